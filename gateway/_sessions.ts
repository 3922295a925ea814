/**
 * Client sessions: results that complete while a client is away wait for it to come
 * back with the same `?session=ID`.
 *
 * @module
 */

/** Limits of what a session keeps while its client is away. */
export interface SessionLimits {
  /** Most results kept per session; the oldest are dropped (and counted) past it. */
  maxResults: number;
  /** Results older than this, and sessions away longer than this, are dropped. */
  maxAgeS: number;
}

interface Held {
  text: string;
  at: number;
}

interface Session {
  held: Held[];
  /** When the client went away; undefined while attached. */
  awaySince: number | undefined;
}

/** The longest session id accepted. */
export const MAX_SESSION_ID_LENGTH = 128;

/** Keeps each session's undelivered results, bounded by count and age. */
export class SessionStore {
  #sessions = new Map<string, Session>();
  #limits: SessionLimits;
  #dropped = 0;

  /** Creates an empty store. */
  constructor(limits: SessionLimits) {
    this.#limits = limits;
  }

  /** Results dropped for age or count since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Results waiting across all sessions. */
  get held(): number {
    let total = 0;
    for (const session of this.#sessions.values()) total += session.held.length;
    return total;
  }

  /** Marks a session attached and returns its waiting results, oldest first. */
  attach(id: string, now = Date.now()): string[] {
    this.#prune(now);
    const session = this.#sessions.get(id);
    if (!session) {
      this.#sessions.set(id, { held: [], awaySince: undefined });
      return [];
    }
    session.awaySince = undefined;
    const texts = session.held.map((held) => held.text);
    session.held = [];
    return texts;
  }

  /** Marks a session's client as gone; its results are held from now on. */
  detach(id: string, now = Date.now()): void {
    const session = this.#sessions.get(id);
    if (session) session.awaySince = now;
  }

  /** Keeps a result for a session whose client is away; false if the session is unknown. */
  hold(id: string, text: string, now = Date.now()): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    session.held.push({ text, at: now });
    if (session.held.length > this.#limits.maxResults) {
      session.held.shift();
      this.#dropped++;
    }
    return true;
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
    }
  }
}
