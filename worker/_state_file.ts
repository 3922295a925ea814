/**
 * What the worker keeps between its runs: whether the current project was started, so a
 * restarted worker (or robot) brings it back.
 *
 * @module
 */

/** The contents of `STORAGE/state.json`. */
export interface PersistedState {
  /** Whether the current project should be running. */
  started: boolean;
}

/** `state.json`, read at boot and replaced atomically on every change. */
export class StateFile {
  #path: string;

  /** The file at `path`; it need not exist yet. */
  constructor(path: string) {
    this.#path = path;
  }

  /**
   * The recorded state. A missing or unreadable file counts as started: a fresh robot
   * runs the current (default) project.
   */
  async read(): Promise<PersistedState> {
    try {
      const state = JSON.parse(await Deno.readTextFile(this.#path));
      return { started: state?.started !== false };
    } catch {
      return { started: true };
    }
  }

  /** Records `state` with one rename, so a crash leaves the old or the new file whole. */
  async write(state: PersistedState): Promise<void> {
    const temp = `${this.#path}.tmp`;
    await Deno.writeTextFile(temp, JSON.stringify(state));
    await Deno.rename(temp, this.#path);
  }
}
