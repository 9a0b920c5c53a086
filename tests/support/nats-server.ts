import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer, type LocalNatsServer } from "../../services/mesh/nats-server.js";
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

/** Starts nats-server -js on a free port with a temporary store (the launcher's starter); never touches the shared :4222. */
export async function startPrivateNatsServer(): Promise<PrivateNatsServer> {
  const storeDir = await mkdtemp(join(tmpdir(), "ordermesh-nats-"));
  const port = await freePort();
  let server: LocalNatsServer | undefined;

  const start = async () => {
    // Its warnings and errors, kept for the message when it does not come up.
    let lines: string[] = [];
    const print = (line: string) => void (lines = [...lines.slice(-19), line]);
    server = await startNatsServer({ port, storeDir, command: natsServerPath, label: "nats", print, ownProcessGroup: false });
    await server.ready.catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}:\n${lines.join("\n")}`);
    });
  };
  const kill = async ({ crash = false } = {}) => {
    const running = server;
    server = undefined;
    if (!running) return;
    await running.process.stop(crash ? "SIGKILL" : "SIGTERM", 10_000);
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
