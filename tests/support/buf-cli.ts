import { execFile } from "node:child_process";
import { delimiter } from "node:path";
import { projectPath } from "../../services/platform/db/index.js";

/** What a finished command printed and how it exited. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and reports its exit code instead of throwing on a non-zero one. */
export function runCommand(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: options.cwd ?? projectPath("."), env: options.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      // execFile reports a non-zero exit as an error with a numeric code; anything else (ENOENT) is a real failure.
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Runs the project's own buf (node_modules/.bin) from the project root. */
export function runBuf(args: string[], cwd = projectPath(".")): Promise<CommandResult> {
  // buf generate finds the local plugin protoc-gen-es on PATH, as `npm run generate` provides it.
  const bin = projectPath("node_modules/.bin");
  return runCommand(`${bin}/buf`, args, { cwd, env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` } });
}
