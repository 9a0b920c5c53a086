import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { LinePrinter } from "./log-output.js";

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  error?: Error;
}

/** What to run and where its output goes. */
export interface ManagedProcessOptions {
  /** Name used in messages, e.g. "orders". */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this OS user (PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** Receives every stdout and stderr line. */
  print: LinePrinter;
  /**
   * Run in a process group of its own (default true), so only the launcher hears the terminal's Ctrl-C.
   * Tests say false: an interrupted test run then takes its children with it.
   */
  ownProcessGroup?: boolean;
}

/**
 * A child process, by default in its own process group. The group matters: Ctrl-C in a terminal signals
 * the whole foreground group, and the launcher must be the only one to see it so it can stop services
 * before the databases they are still using.
 */
export class ManagedProcess {
  readonly name: string;
  readonly exited: Promise<ProcessExit>;
  private readonly child: ChildProcess;
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly ownGroup: boolean;
  private exit: ProcessExit | undefined;

  constructor(options: ManagedProcessOptions) {
    this.name = options.name;
    this.ownGroup = options.ownProcessGroup ?? true;
    this.child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.uid,
      gid: options.gid,
      detached: this.ownGroup,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const onLine = (line: string) => {
      options.print(line);
      this.lineListeners.forEach((listener) => listener(line));
    };
    if (this.child.stdout) createInterface({ input: this.child.stdout, crlfDelay: Infinity }).on("line", onLine);
    if (this.child.stderr) createInterface({ input: this.child.stderr, crlfDelay: Infinity }).on("line", onLine);
    this.exited = new Promise((resolve) => {
      // "close" waits for the output pipes to drain, so every line is printed before anyone hears of the exit.
      this.child.once("close", (code, signal) => resolve((this.exit ??= { code, signal })));
      this.child.once("error", (error) => {
        // A failed spawn emits no "close" when no pipe ever opened; a failed kill is not an exit.
        if (this.child.pid === undefined) resolve((this.exit ??= { code: null, signal: null, error }));
      });
    });
  }

  /** Process id (also the process group id), undefined when the spawn failed. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process has not exited yet. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /** Resolves with the first non-undefined result of match over the output; rejects if the process exits first. */
  waitForLine<T>(match: (line: string) => T | undefined, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const listener = (line: string) => {
        const result = match(line);
        if (result === undefined) return;
        this.lineListeners.delete(listener);
        resolve(result);
      };
      this.lineListeners.add(listener);
      void this.exited.then((exit) => {
        if (!this.lineListeners.delete(listener)) return;
        reject(new Error(`${this.name} ${describeExit(exit)} before ${what}`));
      });
    });
  }

  /** Sends signal to the process group, waits for the exit and escalates to SIGKILL after graceMs. */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<ProcessExit> {
    if (!this.running) return this.exited;
    this.signalGroup(signal);
    const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signals the whole process group at once (the process alone when it shares ours), synchronously (safe inside a process "exit" handler). */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined || !this.running) return;
    try {
      process.kill(this.ownGroup ? -this.child.pid : this.child.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

/** "exited with code 1", "was killed by SIGKILL" or "could not start (spawn x ENOENT)". */
export function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not start (${exit.error.message})`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? "?"}`;
}
