import assert from "node:assert/strict";
import { controlOf, fromDescribe, fromStart, initialText, parseValue } from "./_methods.ts";

const DESCRIBED = {
  type: "python",
  version: 3,
  objects: {
    arm: {
      doc: "The arm.",
      class: false,
      methods: {
        wave: {
          params: [
            {
              name: "times",
              kind: "positional_or_keyword",
              required: false,
              default: 1,
              annotation: "int",
              schema: { type: "integer" },
            },
            {
              name: "where",
              kind: "keyword_only",
              required: true,
              annotation: "List[float]",
              schema: { type: "array" },
            },
            {
              name: "clock",
              kind: "positional_or_keyword",
              required: false,
              default: "<function now>",
              default_repr: true,
              annotation: null,
              schema: null,
            },
            {
              name: "args",
              kind: "var_positional",
              required: false,
              annotation: null,
              schema: null,
            },
            { name: "extra", kind: "var_keyword", required: false, annotation: null, schema: null },
          ],
          returns: null,
          async: false,
          doc: "Waves.",
        },
        builtin: { params: null, returns: null, async: false, doc: null },
      },
    },
  },
};

Deno.test("fromDescribe reads describe's parameters, kinds and defaults", () => {
  const [arm] = fromDescribe(DESCRIBED);
  assert.equal(arm.name, "arm");
  assert.deepEqual(arm.methods.map((m) => m.name), ["builtin", "wave"]);
  assert.equal(arm.methods[0].params, undefined, "an unknown signature gets the JSON box");
  const wave = arm.methods[1];
  assert.equal(wave.doc, "Waves.");
  assert.deepEqual(wave.params!.map((p) => [p.name, p.hasDefault, p.kind]), [
    ["times", true, "positional_or_keyword"],
    ["where", false, "keyword_only"],
    ["clock", true, "positional_or_keyword"],
    ["extra", true, "var_keyword"],
  ]);
  assert.deepEqual(wave.params!.map(controlOf), ["integer", "json", "json", "json"]);
  assert.deepEqual(wave.params!.map(initialText), ["1", "", "", ""]);
});

Deno.test("fromStart lists names only, sorted", () => {
  assert.deepEqual(fromStart({ b: ["y", "x"], a: [] }), [
    { name: "a", methods: [] },
    { name: "b", methods: [{ name: "x" }, { name: "y" }] },
  ]);
});

Deno.test("parseValue reads JSON where it parses, as the command line does", () => {
  assert.equal(parseValue("3", "integer"), 3);
  assert.equal(parseValue("3", "text"), "3");
  assert.deepEqual(parseValue("[1, 2]", "json"), [1, 2]);
  assert.equal(parseValue("hello", "json"), "hello");
  assert.throws(() => parseValue("fast", "number"), SyntaxError);
});
