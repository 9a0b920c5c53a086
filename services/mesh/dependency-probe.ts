import * as net from "node:net";

/** "UP" when the server answered as the kind of server it should be, else why not. */
export type DependencyHealth = "UP" | `error: ${string}`;

/** Connects, optionally sends hello, and checks the first bytes the server answers with; bounded by timeoutMs. */
function probeTcp(address: { host: string; port: number }, check: (first: Buffer) => boolean, hello: Buffer | undefined, timeoutMs: number): Promise<DependencyHealth> {
  return new Promise((resolve) => {
    const socket = net.connect(address.port, address.host);
    const done = (result: DependencyHealth) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(`error: no answer within ${timeoutMs} ms`));
    socket.once("error", (err: NodeJS.ErrnoException) => done(`error: ${err.code ?? err.message}`));
    socket.once("connect", () => hello && socket.write(hello));
    socket.once("data", (data) => done(check(data) ? "UP" : "error: unexpected answer"));
    socket.once("end", () => done("error: closed without an answer"));
  });
}

/** A NATS server greets every client with its INFO line before the client says anything. */
export function probeNatsServer(address: { host: string; port: number }, timeoutMs = 2000): Promise<DependencyHealth> {
  return probeTcp(address, (first) => first.subarray(0, 5).toString("latin1") === "INFO ", undefined, timeoutMs);
}

// PostgreSQL's SSLRequest: length 8, code 80877103. The server answers one byte, S or N, and a client
// that leaves then is not logged as a failed connection (no startup packet follows, no backend starts).
const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** A PostgreSQL server answers an SSLRequest with "S" or "N"; nothing else does. */
export function probePostgresServer(address: { host: string; port: number }, timeoutMs = 2000): Promise<DependencyHealth> {
  return probeTcp(address, (first) => first.length === 1 && (first[0] === 0x53 || first[0] === 0x4e), sslRequest, timeoutMs);
}

/** host and port of a URL (nats://, postgres://), with the scheme's default port. */
export function addressOf(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port: parsed.port ? Number(parsed.port) : defaultPort };
}
