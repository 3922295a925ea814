/**
 * Fakes for unit tests of the gateway: a worker link that records what it is asked and
 * answers when told, and a WebSocket that records what is sent to it.
 *
 * @module
 */
import type { WorkerLink, WorkerLinkListener, WorkerState } from "../gateway/mod.ts";
import type {
  CallMessage,
  ErrorReply,
  OpData,
  OpParams,
  ProjectTable,
  ReplyMessage,
  WorkerOp,
} from "../ipc/mod.ts";
import type { ErrorCode } from "../errors.ts";

/** A request the fake link was sent, with the means to answer it. */
export interface FakeRequest {
  op: WorkerOp;
  params: unknown;
  body: Uint8Array | undefined;
  resolve(reply: ReplyMessage): void;
}

/** A {@linkcode WorkerLink} driven by the test. */
export class FakeLink implements WorkerLink {
  state: WorkerState = "running";
  pid: number | null = 4242;
  restarts = 0;
  listener: WorkerLinkListener | undefined;
  readonly requests: FakeRequest[] = [];
  readonly calls: { message: CallMessage; argsJson?: Uint8Array }[] = [];
  readonly cancels: number[] = [];
  /** Answers every request of these ops at once with these data. */
  readonly autoReply = new Map<WorkerOp, unknown>();
  #nextId = 1;

  listen(listener: WorkerLinkListener): void {
    this.listener = listener;
  }

  request<K extends WorkerOp>(
    op: K,
    params: OpParams<K>,
    body?: Uint8Array,
  ): Promise<ReplyMessage<K>> {
    const id = this.#nextId++;
    return new Promise<ReplyMessage>((resolve) => {
      if (this.autoReply.has(op)) {
        resolve({
          t: "res",
          id,
          ok: true,
          message: `${op} done`,
          data: this.autoReply.get(op) as never,
        });
        return;
      }
      this.requests.push({ op, params, body, resolve });
    }) as Promise<ReplyMessage<K>>;
  }

  call(message: CallMessage, argsJson?: Uint8Array): boolean {
    if (this.state !== "running") return false;
    this.calls.push({ message, argsJson });
    return true;
  }

  cancel(id: number): void {
    this.cancels.push(id);
  }

  /** The oldest unanswered request of `op`, taken off the list. */
  take(op: WorkerOp): FakeRequest {
    const index = this.requests.findIndex((r) => r.op === op);
    if (index < 0) {
      throw new Error(`No ${op} request was sent; sent: ${this.requests.map((r) => r.op)}`);
    }
    return this.requests.splice(index, 1)[0];
  }

  /** Answers the oldest `op` request with success. */
  succeed<K extends WorkerOp>(op: K, data: OpData<K>, message = `${op} done`): void {
    this.take(op).resolve({ t: "res", id: 0, ok: true, message, data });
  }

  /** Answers the oldest `op` request with an error. */
  fail(op: WorkerOp, code: ErrorCode, message: string): void {
    const reply: ErrorReply = { t: "res", id: 0, ok: false, code, message };
    this.take(op).resolve(reply);
  }

  /** Publishes a project table, as the worker does. */
  publish(table: ProjectTable | null | undefined): void {
    this.listener?.onProject(table);
  }

  /** Changes the worker's state and tells the listener. */
  setState(state: WorkerState): void {
    this.state = state;
    this.listener?.onState(state);
  }
}

/** A Python project table with the given objects. */
export function pythonTable(objects: Record<string, string[]>, version = 1): ProjectTable {
  return { type: "python", version, objects };
}

/** A WebSocket stand-in: records sends and closes; the test feeds it messages. */
export class FakeSocket {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  binaryType = "arraybuffer";
  readonly sent: string[] = [];
  closed: { code?: number; reason?: string } | undefined;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  onopen: (() => void) | null = null;

  send(text: string): void {
    this.sent.push(text);
  }

  close(code?: number, reason?: string): void {
    if (this.closed) return;
    this.closed = { code, reason };
    this.readyState = WebSocket.CLOSED;
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005 }));
  }

  /** Delivers a message from the client. */
  receive(data: unknown): void {
    this.onmessage?.({ data: typeof data === "string" ? data : data });
  }

  /** Delivers a JSON message from the client. */
  receiveJson(message: unknown): void {
    this.receive(JSON.stringify(message));
  }

  /** What the agent sent, parsed. */
  // deno-lint-ignore no-explicit-any
  messages(): Record<string, any>[] {
    return this.sent.map((text) => JSON.parse(text));
  }

  /** This fake as the type the gateway takes. */
  get asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }
}

/** Lets queued promise callbacks run (several turns, for chains of awaits). */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}
