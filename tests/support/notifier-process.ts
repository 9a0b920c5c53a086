import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { projectPath } from "../../services/platform/database.js";

/** The compiled notifier (dist/services/notifier/main.js) running as a child process of the test. */
export interface NotifierProcess {
  child: ChildProcess;
  /** The gRPC (health/reflection) port from its "listening" log line; tests start it with NOTIFIER_PORT=0. */
  grpcPort: number;
  /** Everything it printed so far. */
  output(): string;
  /** Sends the signal and resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the compiled notifier with env added to this process's and waits until it listens. */
export async function startNotifierProcess(env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<NotifierProcess> {
  const entry = projectPath("dist/services/notifier/main.js");
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [entry], { cwd: projectPath("."), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const grpcPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`notifier not listening after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const port = /"grpcPort":(\d+)[^\n]*"msg":"listening"/.exec(output)?.[1];
      if (port) {
        clearTimeout(timer);
        resolve(Number(port));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`notifier exited (${JSON.stringify(exit)}) before listening:\n${output}`));
    });
  });
  return {
    child,
    grpcPort,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
