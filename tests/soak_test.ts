/** The soak in small: 20,000 pipelined calls with worker kills lose no callback. */
import assert from "node:assert/strict";
import { soak } from "../scripts/soak.ts";

Deno.test("20,000 pipelined calls with two worker kills: every accepted call gets one callback", async () => {
  const report = await soak({ calls: 20_000, killEvery: 7_000, window: 1000 });
  assert.equal(report.kills, 2);
  assert.equal(report.lost, 0, JSON.stringify(report));
  assert.equal(report.unexpected, 0, JSON.stringify(report));
  assert.equal(report.accepted + report.refused, report.calls, JSON.stringify(report));
  const failedCodes = Object.keys(report.failed);
  for (const code of failedCodes) assert.match(code, /^(WORKER_EXITED|EXECUTOR_EXITED)$/);
  assert.ok(report.succeeded > report.calls * 0.8, JSON.stringify(report));
});
