import { describe, expect, it } from "vitest";
import { parseListening, parseLogLine, parseMetricsListening, startService } from "./service-runner.js";

describe("service-runner log lines", () => {
  it("keeps JSON object lines as records and nothing else", () => {
    expect(parseLogLine(JSON.stringify({ level: 30, msg: "listening" }))).toEqual({ level: 30, msg: "listening" });
    expect(parseLogLine("    at main (file.js:1:1)")).toBeUndefined();
    expect(parseLogLine("{not json")).toBeUndefined();
    expect(parseLogLine("[1,2]")).toBeUndefined();
  });

  it("reads the ports of a service's listening line and ignores every other line", () => {
    expect(parseListening({ level: 30, msg: "listening", grpcPort: 50051, webPort: 8081 })).toEqual({ grpcPort: 50051, webPort: 8081 });
    expect(parseListening({ level: 30, msg: "listening", grpcPort: 50053 })).toEqual({ grpcPort: 50053, webPort: undefined });
    expect(parseListening({ level: 30, msg: "starting" })).toBeUndefined();
    expect(parseListening({ msg: "listening", grpcPort: "50051" })).toBeUndefined();
  });

  it("reads the port of a service's metrics listening line (port 0 becomes a real one there)", () => {
    expect(parseMetricsListening({ level: 30, msg: "metrics listening", metrics: "http://127.0.0.1:40123/metrics" })).toBe(40123);
    expect(parseMetricsListening({ level: 30, msg: "listening", grpcPort: 50051 })).toBeUndefined();
    expect(parseMetricsListening({ level: 30, msg: "metrics listening", metrics: "not a url" })).toBeUndefined();
  });
});

describe("startService", () => {
  it("rejects ready and waitForLog at once when the process exits first, with its last output", async () => {
    // A compiled CLI that exits 2 with its usage when given nothing: no "listening" ever comes.
    const printed: string[] = [];
    const run = startService({ name: "no-service", script: "services/mesh/make-dev-identity.js", env: { ...process.env }, print: (line) => printed.push(line), ownProcessGroup: false });
    const waiting = run.waitForLog((line) => line.msg === "never", "a line that never comes", 60_000);
    await expect(run.ready).rejects.toThrow(/^no-service exited with code 2 before logging "listening":\nusage: make-dev-identity/);
    await expect(waiting).rejects.toThrow(/exited with code 2 before a line that never comes/);
    expect(await run.exited).toEqual({ code: 2, signal: null });
    expect(printed).toEqual(["usage: make-dev-identity <dir> <service>..."]);
    expect(run.output()).toBe("usage: make-dev-identity <dir> <service>...");
    expect(run.logs).toEqual([]);
  });

  it("names the missing build instead of spawning nothing", () => {
    expect(() => startService({ name: "x", script: "services/nope/main.js", env: {} })).toThrow(/dist\/services\/nope\/main\.js is missing: run `npm run build` first/);
  });
});
