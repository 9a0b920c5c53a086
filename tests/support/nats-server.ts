import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../services/mesh/ports.js";
import { natsServerPath } from "../setup/system-packages.js";

/** A private nats-server with JetStream, for tests that stop or restart the broker. */
export interface PrivateNatsServer {
  url: string;
  port: number;
  /** Stops the server (SIGKILL when crash is true) and starts it again on the same port and store. */
  restart(options?: { crash?: boolean; downMs?: number }): Promise<void>;
  /** Stops the server without starting it again. */
  kill(options?: { crash?: boolean }): Promise<void>;
  /** Starts a killed server again. */
  start(): Promise<void>;
  /** Stops the server for good and removes its store. */
  stop(): Promise<void>;
}

/** Starts nats-server -js on a free port with a temporary store; never touches the shared :4222. */
export async function startPrivateNatsServer(): Promise<PrivateNatsServer> {
  const storeDir = await mkdtemp(join(tmpdir(), "ordermesh-nats-"));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(natsServerPath, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child = proc;
    const deadline = Date.now() + 15_000;
    while (!(await acceptsNats(port))) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not accept connections on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async ({ crash = false } = {}) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill(crash ? "SIGKILL" : "SIGTERM");
    await exited;
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    start,
    kill,
    async restart({ crash = false, downMs = 0 } = {}) {
      await kill({ crash });
      // A pause lets clients notice the outage (disconnect, reconnect attempts) as in a real restart.
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await kill();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}


/** Whether a NATS server answers on the port with its INFO line (the port is open and JetStream ready enough). */
function acceptsNats(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("data", (chunk: Buffer) => done(chunk.toString().startsWith("INFO")));
    socket.once("error", () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}
