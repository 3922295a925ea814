/**
 * Calls made from the console, newest first, kept while the tab lives: each with its
 * arguments, outcome and latency (from sending to the callback), so any can be re-run.
 *
 * @module
 */
import { AgentRequestError } from "../client/mod.ts";
import type { ConsoleSession } from "./_session.ts";
import { Store } from "./_store.ts";

/** One call and how it ended. */
export interface CallRecord {
  seq: number;
  object: string;
  method: string;
  args: Record<string, unknown>;
  state: "running" | "ok" | "error";
  result?: unknown;
  error?: { code: string; message: string; traceback?: string };
  /** Milliseconds from sending to the callback. */
  ms?: number;
  at: number;
}

const MAX_RECORDS = 100;
let seq = 0;

/** The history the Call view shows. */
export const callHistory: Store<{ records: CallRecord[] }> = new Store<{ records: CallRecord[] }>(
  { records: [] },
);

function update(record: CallRecord): void {
  const records = callHistory.value.records.map((r) => r.seq === record.seq ? record : r);
  callHistory.set({ records });
}

/** Calls `object.method(**args)` and records it; resolves with the record once done. */
export async function runCall(
  session: ConsoleSession,
  call: { object: string; method: string; args: Record<string, unknown> },
): Promise<CallRecord> {
  const robot = session.robot;
  const started = performance.now();
  let record: CallRecord = { ...call, seq: ++seq, state: "running", at: Date.now() };
  callHistory.set({ records: [record, ...callHistory.value.records].slice(0, MAX_RECORDS) });
  try {
    if (!robot) throw new Error("Not connected");
    const result = await robot.call(call.object, call.method, call.args);
    record = { ...record, state: "ok", result, ms: performance.now() - started };
  } catch (error) {
    const code = error instanceof AgentRequestError ? String(error.code) : "CLIENT";
    const traceback = error instanceof AgentRequestError
      ? (error.data.traceback as string | undefined) ?? undefined
      : undefined;
    record = {
      ...record,
      state: "error",
      error: { code, message: error instanceof Error ? error.message : String(error), traceback },
      ms: performance.now() - started,
    };
  }
  update(record);
  return record;
}

/** Sends `object.method(**args)` without waiting for its result or recording it (teleop). */
export function sendCall(
  session: ConsoleSession,
  call: { object: string; method: string; args?: Record<string, unknown> },
): Promise<unknown> {
  const robot = session.robot;
  if (!robot) return Promise.reject(new Error("Not connected"));
  return robot.call(call.object, call.method, call.args ?? {});
}
