/**
 * Test doubles for the worker's unit tests: an executor that runs no process, and a
 * {@linkcode WorkerService} over a temporary folder whose `send` records every message.
 *
 * @module
 */
import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import type {
  CallOptions,
  CallRequest,
  Executor,
  ExecutorHooks,
  ExecutorStatus,
  ExitInfo,
  SafetyAction,
} from "../executors/mod.ts";
import { installRuntime } from "../executors/mod.ts";
import {
  type CallbackMessage,
  type CallOutcome,
  failedOutcome,
  type OpParams,
  type ReplyMessage,
  type WorkerMessage,
  type WorkerOp,
} from "../ipc/mod.ts";
import { joinPath } from "../paths.ts";
import type { ProjectMeta } from "./_project_store.ts";
import { WorkerService } from "./_service.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * An executor that runs no process: `arm.wave` answers at once with what it was given,
 * `arm.slow` waits until cancelled or stopped, `arm.big` answers with a long result's JSON.
 */
export class FakeExecutor implements Executor {
  readonly type = "python";
  readonly revivable = true;
  readonly objects = new Map([["arm", new Set(["wave", "slow", "big"])]]);
  readonly pid: number;
  readonly received: { id: number; request: CallRequest; options?: CallOptions }[] = [];
  readonly safetyCalls: (readonly CallRequest[])[] = [];
  running = true;
  #hooks: ExecutorHooks;
  #slow = new Map<number, { request: CallRequest; resolve(outcome: CallOutcome): void }>();

  constructor(hooks: ExecutorHooks, pid: number) {
    this.#hooks = hooks;
    this.pid = pid;
  }

  call(id: number, request: CallRequest, options?: CallOptions): Promise<CallOutcome> {
    this.received.push({ id, request, options });
    const { object, method, args } = request;
    if (!this.running) return Promise.resolve(this.#exited(request));
    if (method === "slow") {
      return new Promise((resolve) => this.#slow.set(id, { request, resolve }));
    }
    if (method === "big") {
      return Promise.resolve({ object, method, ok: true, resultJson: encoder.encode("[1,2,3]") });
    }
    const given = args instanceof Uint8Array ? JSON.parse(decoder.decode(args)) : args;
    return Promise.resolve({ object, method, ok: true, result: { pid: this.pid, args: given } });
  }

  cancel(id: number): boolean {
    const slow = this.#slow.get(id);
    if (!slow) return false;
    this.#slow.delete(id);
    const { object, method } = slow.request;
    slow.resolve(failedOutcome(object, method, ErrorCode.CANCELLED, "CancelledError", "cancelled"));
    return true;
  }

  safetyStop(calls: readonly CallRequest[]): Promise<SafetyAction[]> {
    this.safetyCalls.push(calls);
    return Promise.resolve([{ signal: "SIGTERM" }]);
  }

  status(): ExecutorStatus {
    return { python: "3.8.0", abandoned_calls: 0, in_flight: this.#slow.size };
  }

  stop(): Promise<ExitInfo> {
    this.exit({ code: 0, signal: null }, { report: false });
    return Promise.resolve({ code: 0, signal: null });
  }

  /** The process "exits": calls in flight fail, and the hook is told. */
  exit(info: ExitInfo, options: { report?: boolean } = {}): void {
    if (!this.running) return;
    this.running = false;
    for (const [id, slow] of this.#slow) {
      this.#slow.delete(id);
      slow.resolve(this.#exited(slow.request));
    }
    if (options.report !== false) this.#hooks.onExit(info);
  }

  emit(event: string, data: unknown): void {
    this.#hooks.onEvent(event, data);
  }

  #exited({ object, method }: CallRequest): CallOutcome {
    return failedOutcome(object, method, ErrorCode.EXECUTOR_EXITED, "ExecutorExited", "exited");
  }
}

/** One message the service sent, with its body. */
export interface Sent {
  message: WorkerMessage;
  body?: Uint8Array;
}

/** Options for {@linkcode Harness.create}. */
export interface HarnessOptions {
  started?: boolean;
  fake?: boolean;
  config?: Record<string, Record<string, unknown>>;
}

/** A service over a temporary storage folder, with a recording `send`. */
export class Harness implements AsyncDisposable {
  readonly sent: Sent[] = [];
  readonly executors: FakeExecutor[] = [];
  readonly starts: ProjectMeta[] = [];
  /** While set, starts wait for it. */
  startGate: Promise<void> | undefined;
  /** While set, starts throw it. */
  startError: Error | undefined;
  /** Errors the next starts throw, one each, before `startError` applies. */
  readonly nextStartErrors: Error[] = [];
  service!: WorkerService;
  readonly dir: string;
  #nextId = 1;
  #requests: number[] = [];
  #waiters: { test(sent: Sent): boolean; resolve(sent: Sent): void }[] = [];
  #options: HarnessOptions;

  private constructor(dir: string, options: HarnessOptions) {
    this.dir = dir;
    this.#options = options;
  }

  /**
   * Boots a service. `started: false` records that no project was running before, so
   * boot starts none; `fake: false` runs projects with the real executors; `config`
   * sections are merged into the test configuration.
   */
  static async create(options: HarnessOptions = {}): Promise<Harness> {
    const dir = await Deno.makeTempDir({ prefix: "worker-service-" });
    const harness = new Harness(dir, options);
    if (options.started === false) {
      await Deno.writeTextFile(joinPath(dir, "state.json"), JSON.stringify({ started: false }));
    }
    await Deno.mkdir(joinPath(dir, "default"));
    await harness.#boot();
    return harness;
  }

  /** Shuts the service down and boots a new one on the same storage, as a new worker would. */
  async restart(): Promise<void> {
    await this.service.shutdown();
    await this.#boot();
  }

  async #boot(): Promise<void> {
    const { config = {}, fake } = this.#options;
    this.service = new WorkerService({
      config: validateConfig({
        ...config,
        storage: { ...config.storage, dir: this.dir },
        cpp: { stop_grace_s: 1, ...config.cpp },
      }),
      // Real executors start projects through the launcher, which the runtime holds.
      runtime: fake === false
        ? {
          ...await installRuntime(joinPath(this.dir, "runtime")),
          defaultProject: joinPath(this.dir, "default"),
        }
        : { hostPath: this.dir, defaultProject: joinPath(this.dir, "default") },
      send: (message, body) => this.#record({ message, body }),
      startExecutor: fake === false ? undefined : (meta, hooks) => this.#start(meta, hooks),
    });
    await this.service.boot();
  }

  /** The executor started last. */
  get executor(): FakeExecutor {
    const last = this.executors.at(-1);
    assert.ok(last, "no executor was started");
    return last;
  }

  /** Sends a request and resolves with its reply. */
  request<K extends WorkerOp>(
    op: K,
    params: OpParams<K>,
    body?: Uint8Array,
  ): Promise<ReplyMessage<K>> {
    const id = this.#nextId++;
    this.#requests.push(id);
    const reply = this.waitFor((m) => m.t === "res" && m.id === id);
    this.service.handle({ t: "req", id, op, params } as never, body);
    return reply as Promise<ReplyMessage<K>>;
  }

  /** Sends a call and resolves with its callback and body. */
  call(
    id: number,
    target: { object: string; method: string; args?: Record<string, unknown> },
    argsJson?: Uint8Array,
  ): Promise<{ data: CallbackMessage["data"]; body?: Uint8Array }> {
    const callback = this.waitForSent((s) => s.message.t === "cb" && s.message.id === id);
    this.service.handle({ t: "call", id, ...target }, argsJson);
    return callback.then((s) => ({ data: (s.message as CallbackMessage).data, body: s.body }));
  }

  waitFor(test: (message: WorkerMessage) => boolean): Promise<WorkerMessage> {
    return this.waitForSent((sent) => test(sent.message)).then((sent) => sent.message);
  }

  waitForSent(test: (sent: Sent) => boolean): Promise<Sent> {
    const found = this.sent.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** The messages of kind `t`, in order. */
  of<T extends WorkerMessage["t"]>(t: T): Extract<WorkerMessage, { t: T }>[] {
    return this.sent.map((s) => s.message).filter((m): m is Extract<WorkerMessage, { t: T }> =>
      m.t === t
    );
  }

  /** The `t` of each message sent, from position `from`: to check their order. */
  kinds(from = 0): string[] {
    return this.sent.slice(from).map((s) => s.message.t);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.service.shutdown();
      for (const id of this.#requests) {
        const replies = this.of("res").filter((m) => m.id === id).length;
        assert.equal(replies, 1, `request ${id} got ${replies} replies`);
      }
    } finally {
      await Deno.remove(this.dir, { recursive: true });
    }
  }

  #record(sent: Sent): void {
    // The channel encodes at once: what is sent must be JSON now.
    JSON.stringify(sent.message);
    this.sent.push(sent);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.test(sent)) return true;
      waiter.resolve(sent);
      return false;
    });
  }

  async #start(meta: ProjectMeta, hooks: ExecutorHooks): Promise<Executor> {
    this.starts.push(meta);
    await this.startGate;
    const once = this.nextStartErrors.shift();
    if (once) throw once;
    if (this.startError) throw this.startError;
    const executor = new FakeExecutor(hooks, 1000 + this.starts.length);
    this.executors.push(executor);
    return executor;
  }
}

/** Lets every queued promise job run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
