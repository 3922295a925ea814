/**
 * A TCP proxy for tests that need the link between a client and the agent to drop: it
 * forwards each connection to the agent and can cut them, all at once or after a number
 * of bytes.
 *
 * @module
 */

/** Forwards connections on a port of its own to `127.0.0.1:target`. */
export class TcpProxy implements AsyncDisposable {
  readonly port: number;
  /** Connections accepted so far. */
  connections = 0;
  /** Connections cut so far. */
  cuts = 0;
  /** Cuts the first connection once this many bytes went from the client to the agent. */
  cutFirstAfter: number | undefined;
  #listener: Deno.TcpListener;
  #target: number;
  #open = new Set<{ client: Deno.TcpConn; agent: Deno.TcpConn }>();
  #done: Promise<void>[] = [];

  private constructor(listener: Deno.TcpListener, target: number) {
    this.#listener = listener;
    this.#target = target;
    this.port = listener.addr.port;
    this.#done.push(this.#accept());
  }

  /** Starts a proxy to the agent listening on `target`. */
  static start(target: number, options: { cutFirstAfter?: number } = {}): TcpProxy {
    const proxy = new TcpProxy(Deno.listen({ hostname: "127.0.0.1", port: 0 }), target);
    proxy.cutFirstAfter = options.cutFirstAfter;
    return proxy;
  }

  /** `url` (an agent URL) with the proxy's port in place of the agent's. */
  rewrite(url: string): string {
    return url.replace(`:${this.#target}/`, `:${this.port}/`);
  }

  /** Cuts every open connection, without a WebSocket close. */
  cutAll(): void {
    for (const pair of this.#open) this.#cut(pair);
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      const index = this.connections++;
      let agent: Deno.TcpConn;
      try {
        agent = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
      } catch {
        client.close();
        continue;
      }
      const pair = { client, agent };
      this.#open.add(pair);
      const limit = index === 0 ? this.cutFirstAfter : undefined;
      this.#done.push(
        Promise.all([this.#pipe(pair, client, agent, limit), this.#pipe(pair, agent, client)])
          .then(() => {}),
      );
    }
  }

  async #pipe(
    pair: { client: Deno.TcpConn; agent: Deno.TcpConn },
    from: Deno.TcpConn,
    to: Deno.TcpConn,
    limit?: number,
  ): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    let moved = 0;
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        let at = 0;
        while (at < n) at += await to.write(buffer.subarray(at, n));
        moved += n;
        if (limit !== undefined && moved >= limit) break;
      }
    } catch {
      // The other direction cut the pair.
    }
    this.#cut(pair);
  }

  #cut(pair: { client: Deno.TcpConn; agent: Deno.TcpConn }): void {
    if (!this.#open.delete(pair)) return;
    this.cuts++;
    for (const conn of [pair.client, pair.agent]) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    this.cutAll();
    await Promise.all(this.#done);
  }
}
