import assert from "node:assert/strict";
import { bundleIsCurrent } from "../scripts/console_build.ts";

Deno.test("console/static/console.js is what deno task console:build makes from the sources", async () => {
  assert.ok(
    await bundleIsCurrent(),
    "the console bundle is stale (client/ or console/ changed): run deno task console:build",
  );
});
