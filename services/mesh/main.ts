import { ConfigError } from "../platform/process/index.js";
import { projectPath } from "../platform/db/index.js";
import { readyBanner } from "./banner.js";
import { createPrinter } from "./log-output.js";
import { describeExit } from "./managed-process.js";
import { Mesh, StartInterrupted } from "./mesh.js";
import { loadMeshConfig, parseMeshArgs, type MeshConfig, usage } from "./mesh-config.js";

// The launcher of `npm start`: the whole mesh as child processes of this one, stopped together on Ctrl-C.
const print = createPrinter("mesh", (line) => line);
const argv = process.argv.slice(2);

let config: MeshConfig;
try {
  // --help answers before the environment is read: a bad variable must not hide the usage.
  if (parseMeshArgs(argv).help) {
    console.log(usage);
    process.exit(0);
  }
  config = loadMeshConfig(argv, process.env, projectPath("."));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}

const mesh = new Mesh(print);

async function shutdown(code: number, reason: string): Promise<void> {
  if (mesh.stopping) return;
  print(reason);
  await mesh.stop();
  print("stopped");
  process.exit(code);
}

let firstSignalAt: number | undefined;
const onSignal = (signal: NodeJS.Signals) => {
  if (firstSignalAt === undefined) {
    firstSignalAt = Date.now();
    void shutdown(0, `${signal}: stopping services, then PostgreSQL and NATS (press Ctrl-C again to kill everything)`);
    return;
  }
  // Under `npm start` one Ctrl-C arrives twice: from the terminal and forwarded by npm. Only a later one is a second press.
  if (Date.now() - firstSignalAt < 500) return;
  print(`${signal} again: killing everything`);
  mesh.signalAll("kill");
  process.exit(130);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
// The children run in their own process groups, so nothing else stops them if this process dies.
process.on("exit", () => mesh.signalAll("abandon"));
mesh.onUnexpectedExit = (name, exit) => void shutdown(1, `${name} ${describeExit(exit)}; stopping the mesh`);

try {
  const summary = await mesh.start(config);
  readyBanner(summary).forEach((line) => print(line));
} catch (err) {
  if (!(err instanceof StartInterrupted) && !mesh.stopping) {
    const message = err instanceof Error ? err.message : String(err);
    await shutdown(1, `failed to start: ${message}`);
  }
}
