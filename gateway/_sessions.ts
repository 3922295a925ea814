/**
 * Client sessions: results that complete while a client is away wait for it to come
 * back with the same `?session=ID`. A session belongs to the identity that created it.
 *
 * @module
 */

/** Limits of what a session keeps while its client is away. */
export interface SessionLimits {
  /** Most results kept per session; the oldest are dropped (and counted) past it. */
  maxResults: number;
  /** Results older than this, and sessions away longer than this, are dropped. */
  maxAgeS: number;
  /**
   * Bytes of held results per session; past it the oldest are replaced by their outcome
   * alone (the `summary` given with each), so the owner still learns how each call ended.
   */
  maxBytes?: number;
}

interface Held {
  text: string;
  /** What replaces `text` when the session is over its byte cap. */
  summary: string | undefined;
  at: number;
}

interface Session {
  owner: string;
  held: Held[];
  bytes: number;
  /** When the client went away; undefined while attached. */
  awaySince: number | undefined;
}

/** The longest session id accepted. */
export const MAX_SESSION_ID_LENGTH = 128;

/** Keeps each session's undelivered results, bounded by count, bytes and age. */
export class SessionStore {
  #sessions = new Map<string, Session>();
  #limits: SessionLimits;
  #dropped = 0;
  #summarized = 0;

  /** Creates an empty store. */
  constructor(limits: SessionLimits) {
    this.#limits = limits;
  }

  /** Results dropped for age or count since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Results cut down to their outcome for the byte cap since start. */
  get summarized(): number {
    return this.#summarized;
  }

  /** Results waiting across all sessions. */
  get held(): number {
    let total = 0;
    for (const session of this.#sessions.values()) total += session.held.length;
    return total;
  }

  /** The identity that created a session, if it exists. */
  ownerOf(id: string, now = Date.now()): string | undefined {
    this.#prune(now);
    return this.#sessions.get(id)?.owner;
  }

  /**
   * Marks a session attached (creating it for `owner`) and returns its waiting results,
   * oldest first. The caller has checked that `owner` owns an existing session.
   */
  attach(id: string, owner: string, now = Date.now()): string[] {
    this.#prune(now);
    const session = this.#sessions.get(id);
    if (!session) {
      this.#sessions.set(id, { owner, held: [], bytes: 0, awaySince: undefined });
      return [];
    }
    session.awaySince = undefined;
    const texts = session.held.map((held) => held.text);
    session.held = [];
    session.bytes = 0;
    return texts;
  }

  /** Marks a session's client as gone; its results are held from now on. */
  detach(id: string, now = Date.now()): void {
    const session = this.#sessions.get(id);
    if (session) session.awaySince = now;
  }

  /**
   * Keeps a result for a session whose client is away; false if the session is unknown.
   * `summary` is the result's outcome alone, used in its place once the session holds
   * more than its byte cap.
   */
  hold(id: string, text: string, options: { summary?: string; now?: number } = {}): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    session.held.push({ text, summary: options.summary, at: options.now ?? Date.now() });
    session.bytes += text.length;
    if (session.held.length > this.#limits.maxResults) {
      const [oldest] = session.held.splice(0, 1);
      session.bytes -= oldest.text.length;
      this.#dropped++;
    }
    this.#capBytes(session);
    return true;
  }

  /** Replaces the oldest full results by their summaries until the session fits its cap. */
  #capBytes(session: Session): void {
    const max = this.#limits.maxBytes;
    if (max === undefined) return;
    for (const held of session.held) {
      if (session.bytes <= max) return;
      if (held.summary === undefined || held.summary.length >= held.text.length) continue;
      session.bytes += held.summary.length - held.text.length;
      held.text = held.summary;
      held.summary = undefined;
      this.#summarized++;
    }
    // Summaries alone still over the cap: the oldest go, counted.
    while (session.bytes > max && session.held.length > 0) {
      const [oldest] = session.held.splice(0, 1);
      session.bytes -= oldest.text.length;
      this.#dropped++;
    }
  }

  #prune(now: number): void {
    const maxAgeMs = this.#limits.maxAgeS * 1000;
    for (const [id, session] of this.#sessions) {
      if (session.awaySince !== undefined && now - session.awaySince > maxAgeMs) {
        this.#dropped += session.held.length;
        this.#sessions.delete(id);
        continue;
      }
      const fresh = session.held.filter((held) => now - held.at <= maxAgeMs);
      this.#dropped += session.held.length - fresh.length;
      session.held = fresh;
      session.bytes = fresh.reduce((total, held) => total + held.text.length, 0);
    }
  }
}
