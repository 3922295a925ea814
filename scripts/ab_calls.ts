/**
 * Side-by-side A/B of sequential call latency between two checkouts of the agent: starts
 * both agents (each from its own tree, as `deno task start` does) and alternates blocks of
 * calls between them, so that this machine's drift in speed (see docs/performance.md)
 * falls on both alike. Prints p50/p90/p99 of the callback and ACK latency of each.
 *
 * `deno run -A scripts/ab_calls.ts DIR_A DIR_B [--method noop|anoop] [--blocks 20]
 * [--calls 300]`
 *
 * Typical use: `git worktree add /tmp/a HEAD`, change the working tree, run against
 * `/tmp/a` and `.`, then again with the two swapped.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import type { BenchClient as Client } from "./_bench_client.ts";

const PROJECT = `class Bench:
    def noop(self):
        return None

    async def anoop(self):
        return None
`;

interface Side {
  dir: string;
  // deno-lint-ignore no-explicit-any
  agent: any;
  client: Client;
  callbacks: number[];
  acks: number[];
}

async function open(dir: string): Promise<Side> {
  const agentModule = await import(`file://${dir}/tests/_agent.ts`);
  const clientModule = await import(`file://${dir}/scripts/_bench_client.ts`);
  const agent = await agentModule.startAgent();
  const client: Client = await clientModule.BenchClient.open(agent.url);
  const zip: Uint8Array = await agentModule.makeZip({ "main.py": PROJECT });
  for (const message of [{ command: "update", data: zip.toBase64() }, { command: "start" }]) {
    const reply = await client.request(message);
    if (reply.status !== "success") throw new Error(`${dir}: ${JSON.stringify(reply)}`);
  }
  return { dir, agent, client, callbacks: [], acks: [] };
}

/** The script's only way to print. */
function out(text: string): void {
  // deno-lint-ignore no-console -- the script's own output
  console.log(text);
}

function quantiles(values: number[]): string {
  const sorted = values.toSorted((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return `p50 ${at(0.5).toFixed(3)} · p90 ${at(0.9).toFixed(3)} · p99 ${at(0.99).toFixed(3)} ms`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      method: { type: "string", default: "noop" },
      blocks: { type: "string", default: "20" },
      calls: { type: "string", default: "300" },
    },
    allowPositionals: true,
    strict: true,
  });
  const blocks = Number(values.blocks);
  const calls = Number(values.calls);
  if (positionals.length !== 2 || !["noop", "anoop"].includes(values.method)) {
    out("usage: ab_calls.ts DIR_A DIR_B [--method noop|anoop] [--blocks N] [--calls N]");
    return 2;
  }
  const sides: Side[] = [];
  try {
    for (const dir of positionals) sides.push(await open(resolve(dir)));
    for (const side of sides) {
      for (let i = 0; i < 300; i++) await side.client.call("Bench", values.method, {}, 1000);
    }
    for (let block = 0; block < blocks; block++) {
      const side = sides[block % 2];
      // A few calls to wake the side up after its pause, then the measured ones.
      for (let i = 0; i < 50; i++) await side.client.call("Bench", values.method, {}, 1000);
      for (let i = 0; i < calls; i++) {
        const result = await side.client.call("Bench", values.method, {}, 1000);
        if (!result.callback?.data.ok) throw new Error(`${side.dir}: call failed or lost`);
        side.callbacks.push(result.callbackAt - result.sent);
        side.acks.push(result.ackAt - result.sent);
      }
    }
    for (const [index, side] of sides.entries()) {
      out(
        `${"AB"[index]} ${side.dir}: n ${side.callbacks.length}, callback ${
          quantiles(side.callbacks)
        }; ACK ${quantiles(side.acks)}`,
      );
    }
    return 0;
  } finally {
    for (const side of sides) {
      await side.client.close();
      await side.agent[Symbol.asyncDispose]();
    }
  }
}

if (import.meta.main) Deno.exit(await main());
