import assert from "node:assert/strict";
import { join, relative, resolve } from "node:path";
import { isWithin, joinPath, normalizePath, relativePath, resolvePath } from "./paths.ts";

const SAMPLES = [
  "",
  ".",
  "/",
  "a",
  "/a/b",
  "a//b/",
  "./a/./b",
  "../a",
  "a/../../b",
  "/../a",
  "/a/b/../../..",
  "a/b/c/../d",
];

Deno.test("joinPath and normalizePath agree with node:path", () => {
  for (const a of SAMPLES) {
    for (const b of SAMPLES) {
      assert.equal(joinPath(a, b), join(a, b), `join(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
    }
    if (a !== "") assert.equal(normalizePath(a), join(a), `normalize(${JSON.stringify(a)})`);
  }
});

Deno.test("resolvePath and relativePath agree with node:path", () => {
  for (const a of SAMPLES) {
    for (const b of SAMPLES) {
      const label = `(${JSON.stringify(a)}, ${JSON.stringify(b)})`;
      assert.equal(resolvePath(a, b), resolve(a, b), `resolve${label}`);
      assert.equal(relativePath(a, b), relative(a, b), `relative${label}`);
    }
  }
});

Deno.test("isWithin holds for the folder and what lies beneath it, not for a name sharing its prefix", () => {
  assert.equal(isWithin("/opt/maps", "/opt/maps"), true);
  assert.equal(isWithin("/opt/maps/a/b", "/opt/maps"), true);
  assert.equal(isWithin("/opt/mapsX", "/opt/maps"), false);
  assert.equal(isWithin("/opt", "/opt/maps"), false);
  assert.equal(isWithin("/anything", "/"), true);
});
