/**
 * A TCP proxy in front of PostgreSQL whose faults a test controls: cut every connection (RST),
 * stall (accept and forward nothing, like a partition or a paused server), or refuse.
 */
import net from "node:net";

export type ProxyMode = "pass" | "stall" | "refuse";

export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | undefined }>();
  mode: ProxyMode = "pass";

  private constructor(
    private target: { host: string; port: number },
    server?: net.Server,
  ) {
    this.server = server ?? net.createServer((client) => this.accept(client));
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections open through the proxy right now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** New connections go to `target` from now on (a failover, a DNS change); open ones stay. */
  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  /** Resets every open connection, as a dropped network or a killed server would. */
  cutAll(): void {
    for (const pair of [...this.pairs]) {
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
      this.pairs.delete(pair);
    }
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    const pair: { client: net.Socket; upstream: net.Socket | undefined } = {
      client,
      upstream: undefined,
    };
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on("error", drop);
    client.on("close", drop);
    // Stalled: accepted, and nothing goes anywhere until a cut.
    if (this.mode === "stall") return;
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on("error", drop);
    upstream.on("close", drop);
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  /** Bytes held back while the proxy is frozen, in order, per direction. */
  private readonly held: Array<() => void> = [];
  private frozen = false;

  /** Holds every byte of every open connection (a paused server, a partition) until `thaw`. */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const release of this.held.splice(0)) release();
  }

  private forward(from: net.Socket, to: net.Socket): void {
    from.on("data", (chunk: Buffer) => {
      if (this.frozen) this.held.push(() => to.destroyed || to.write(chunk));
      else if (!to.destroyed) to.write(chunk);
    });
  }
}
