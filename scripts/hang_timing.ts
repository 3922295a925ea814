/**
 * Measures hang detection and rollback through a real agent: the time from SIGSTOP of the
 * Python host to the HUNG callback of a call it held, from there to the next call's
 * result (a restart), and from a crash in probation to the `rolled_back` event.
 *
 * ```sh
 * deno run -A scripts/hang_timing.ts [--rounds 10] [--hang-timeout 5]
 * ```
 *
 * Prints one line per round and a summary (docs/reliability.md quotes it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Client, delay, startAgent } from "../tests/_agent.ts";

const PROJECT = `
import os
import time


class P:
    def pid(self):
        return os.getpid()

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds
`;

const CRASHES = `
import os
import threading


def init():
    threading.Timer(0.2, lambda: os._exit(1)).start()
`;

const flags = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "10" }, "hang-timeout": { type: "string" } },
}).values;
const rounds = Number(flags.rounds);
const hangTimeoutS = Number(flags["hang-timeout"] ?? 5);

function print(line: string): void {
  // deno-lint-ignore no-console -- the script's own output
  console.log(line);
}

function summary(name: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `${name}: min ${sorted[0].toFixed(0)} ms, median ${at(0.5).toFixed(0)} ms, ` +
    `max ${sorted.at(-1)!.toFixed(0)} ms (${values.length} rounds)`;
}

async function hangRound(client: Client, round: number): Promise<[number, number]> {
  const pid = (await client.call(`pid-${round}`, "P", "pid")).callback.data.result as number;
  const held = client.callback(`held-${round}`, 60_000);
  await client.request({
    command: "process",
    id: `held-${round}`,
    params: { object: "P", method: "sleep", args: { seconds: 600 } },
  });
  // Anywhere between two heartbeat pings (they go out every second).
  await delay(Math.random() * 1000);
  const stoppedAt = performance.now();
  Deno.kill(pid, "SIGSTOP");
  const hung = await held;
  const hungAt = performance.now();
  if (hung.data.error?.code !== "HUNG") throw new Error(`Expected HUNG: ${JSON.stringify(hung)}`);
  const next = await client.call(`next-${round}`, "P", "pid");
  if (!next.callback.data.ok) throw new Error(`Next call failed: ${JSON.stringify(next)}`);
  return [hungAt - stoppedAt, performance.now() - hungAt];
}

async function main(): Promise<void> {
  // Probation 0: each round's kill must restart the project, not roll it back.
  await using agent = await startAgent({
    config: `worker:\n  hang_timeout_s: ${hangTimeoutS}\nlifecycle:\n  probation_s: 0\n`,
  });
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  const detect: number[] = [];
  const revive: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [toHung, toNext] = await hangRound(client, round);
    detect.push(toHung);
    revive.push(toNext);
    print(
      `round ${round + 1}: SIGSTOP → HUNG ${toHung.toFixed(0)} ms, then next call ${
        toNext.toFixed(0)
      } ms`,
    );
  }
  print(`hang_timeout_s ${hangTimeoutS}`);
  print(summary("SIGSTOP → HUNG callback", detect));
  print(summary("HUNG → next call's result (restart)", revive));

  await using rollbackAgent = await startAgent({ config: "lifecycle:\n  probation_s: 1\n" });
  await using other = await rollbackAgent.connect();
  await other.deploy({ "main.py": PROJECT });
  await rollbackAgent.waitForLog("Version 1 is good");
  const rollback: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const exited = other.event("project_exited");
    const rolled = other.event("rolled_back");
    await other.deploy({ "main.py": CRASHES });
    await exited;
    const exitedAt = performance.now();
    await rolled;
    rollback.push(performance.now() - exitedAt);
  }
  print(summary("crash in probation (project_exited) → rolled_back", rollback));
}

await main();
