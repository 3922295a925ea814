/**
 * Unix domain socket helpers: listening on a path, accepting one peer, connecting.
 *
 * @module
 */

/** Linux limits `sun_path` to 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** Options for {@linkcode acceptOne}. */
export interface AcceptOptions {
  /** Give up after this many milliseconds. */
  timeoutMs: number;
  /** Give up when aborted. */
  signal?: AbortSignal;
}

/**
 * Listens on a Unix socket at `path`, replacing a stale socket file left by a crash.
 *
 * @throws {RangeError} when the path is too long for a Unix socket.
 */
export function listenUnix(path: string): Deno.UnixListener {
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(
      `Cannot listen on Unix socket: path is longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${path}`,
    );
  }
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return Deno.listen({ transport: "unix", path });
}

/** Accepts one connection, or rejects when the timeout passes or the signal aborts. */
export async function acceptOne(
  listener: Deno.UnixListener,
  options: AcceptOptions,
): Promise<Deno.UnixConn> {
  const { promise, resolve, reject } = Promise.withResolvers<Deno.UnixConn>();
  const timer = setTimeout(
    () => reject(new Error(`Cannot accept connection: no peer within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  const onAbort = () => reject(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  listener.accept().then(resolve, reject);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** Connects to the Unix socket at `path`. */
export function connectUnix(path: string): Promise<Deno.UnixConn> {
  return Deno.connect({ transport: "unix", path });
}

/** Removes a socket file, ignoring one that is already gone. */
export function removeSocketFile(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
