import assert from "node:assert/strict";
import { parseCallArgs } from "./_call.ts";
import { CliError } from "./_command.ts";

Deno.test("parseCallArgs reads values as JSON where they parse, else as strings", () => {
  assert.deepEqual(
    parseCallArgs(
      ["vx=0.3", "n=-2", "on=true", "none=null", "list=[1,2]", "text=hello", 'q="3"', "e="],
      undefined,
    ),
    { vx: 0.3, n: -2, on: true, none: null, list: [1, 2], text: "hello", q: "3", e: "" },
  );
});

Deno.test("parseCallArgs starts from --args and lets NAME=VALUE add to it", () => {
  assert.deepEqual(parseCallArgs(["b=2"], '{"a": 1, "b": 0}'), { a: 1, b: 2 });
});

Deno.test("parseCallArgs refuses words without a name and --args that is not an object", () => {
  assert.throws(() => parseCallArgs(["=3"], undefined), CliError);
  assert.throws(() => parseCallArgs(["plain"], undefined), CliError);
  assert.throws(() => parseCallArgs([], "[1]"), CliError);
  assert.throws(() => parseCallArgs([], "{nope"), CliError);
});
