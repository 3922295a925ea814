import assert from "node:assert/strict";
import type { MethodInfo } from "../ipc/mod.ts";
import { argsProblem, schemaProblem } from "./_args_check.ts";

const MOVE: MethodInfo = {
  params: [
    {
      name: "vx",
      kind: "positional_or_keyword",
      required: true,
      annotation: "float",
      schema: { type: "number" },
    },
    {
      name: "vy",
      kind: "positional_or_keyword",
      required: false,
      default: 0,
      annotation: "float",
      schema: { type: "number" },
    },
    {
      name: "mode",
      kind: "keyword_only",
      required: false,
      default: "walk",
      annotation: "Literal['walk', 'run']",
      schema: { enum: ["walk", "run"] },
    },
    {
      name: "path",
      kind: "keyword_only",
      required: false,
      default: null,
      annotation: "Optional[List[int]]",
      schema: { anyOf: [{ type: "array", items: { type: "integer" } }, { type: "null" }] },
    },
  ],
  returns: null,
  async: false,
  doc: null,
};

Deno.test("argsProblem accepts arguments that fit the described parameters", () => {
  assert.equal(argsProblem({ vx: 1 }, MOVE), undefined);
  assert.equal(argsProblem({ vx: 0.5, vy: 2, mode: "run", path: [1, 2] }, MOVE), undefined);
  assert.equal(argsProblem({ vx: 1, path: null }, MOVE), undefined);
});

Deno.test("argsProblem names the offending field by its JSON pointer", () => {
  assert.equal(argsProblem({ vx: "fast" }, MOVE), "/vx: expected number, got string");
  assert.equal(
    argsProblem({ vx: 1, mode: "fly" }, MOVE),
    '/mode: expected one of "walk", "run", got "fly"',
  );
  assert.equal(
    argsProblem({ vx: 1, path: [1, 2.5] }, MOVE),
    "/path: expected array of integer or null, got array",
  );
  assert.equal(argsProblem({}, MOVE), "/vx: missing required argument (float)");
  assert.equal(
    argsProblem({ vx: 1, vz: 2 }, MOVE),
    "/vz: unexpected argument (it takes: vx, vy, mode, path)",
  );
});

Deno.test("argsProblem leaves unannotated methods, unknown signatures and **kwargs to Python", () => {
  const plain: MethodInfo = {
    params: [{
      name: "times",
      kind: "positional_or_keyword",
      required: false,
      default: 1,
      annotation: null,
      schema: null,
    }],
    returns: null,
    async: false,
    doc: null,
  };
  assert.equal(argsProblem({ nope: 1 }, plain), undefined);
  assert.equal(
    argsProblem({ anything: 1 }, { params: null, returns: null, async: false, doc: null }),
    undefined,
  );
  const open: MethodInfo = {
    params: [{
      name: "more",
      kind: "var_keyword",
      required: false,
      annotation: null,
      schema: null,
    }],
    returns: null,
    async: false,
    doc: null,
  };
  assert.equal(argsProblem({ a: 1, b: "x" }, open), undefined);
});

Deno.test("schemaProblem checks integers, nested items and escapes pointer characters", () => {
  assert.equal(schemaProblem(1.5, { type: "integer" }, "/n"), "/n: expected integer, got number");
  assert.equal(
    schemaProblem([[1], ["x"]], {
      type: "array",
      items: { type: "array", items: { type: "integer" } },
    }, "/m"),
    "/m/1/0: expected integer, got string",
  );
  const typed: MethodInfo = {
    params: [{
      name: "n",
      kind: "keyword_only",
      required: false,
      default: 0,
      annotation: "int",
      schema: { type: "integer" },
    }],
    returns: null,
    async: false,
    doc: null,
  };
  assert.equal(argsProblem({ "a/b": 1 }, typed), "/a~1b: unexpected argument (it takes: n)");
});
