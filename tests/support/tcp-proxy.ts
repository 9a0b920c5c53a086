import * as net from "node:net";

/** A TCP proxy whose link to the target can be cut and restored, to simulate an unreachable server. */
export interface TcpProxy {
  /** Port the proxy listens on (127.0.0.1). */
  port: number;
  /** Destroys every proxied connection and refuses new ones until restore(). */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  /** Keeps every connection open but forwards nothing (a stalled link): bytes wait until resume(). */
  pause(): void;
  /** Forwards again what pause() held back, and everything after. */
  resume(): void;
  close(): Promise<void>;
}

/** Starts a proxy on an ephemeral 127.0.0.1 port forwarding to targetHost:targetPort. */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  const links = new Set<[net.Socket, net.Socket]>();
  let isCut = false;
  let isPaused = false;
  const server = net.createServer((client) => {
    // A cut link behaves like a host that resets connections, so clients fail fast instead of hanging.
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      const link: [net.Socket, net.Socket] = [a, b];
      open.add(a);
      links.add(link);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        open.delete(a);
        links.delete(link);
        b.destroy();
      });
      if (!isPaused) a.pipe(b);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const cut = () => {
    isCut = true;
    for (const socket of open) socket.resetAndDestroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    restore() {
      isCut = false;
    },
    pause() {
      isPaused = true;
      for (const [from, to] of links) {
        from.unpipe(to);
        // unpipe leaves a socket flowing; paused, its bytes wait in the kernel buffers instead of being read and dropped.
        from.pause();
      }
    },
    resume() {
      isPaused = false;
      for (const [from, to] of links) from.pipe(to);
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
