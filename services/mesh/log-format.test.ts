import { describe, expect, it } from "vitest";
import { formatNatsLine, formatPinoLine, formatPostgresLine, shouldColor } from "./log-format.js";

describe("log-format", () => {
  it("turns a pino JSON line into one readable line without pino's bookkeeping", () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2025, 0, 2, 10, 11, 12, 345), pid: 7, hostname: "h", service: "orders", name: "orders", msg: "rpc", rpc: "/orders.v1.OrderService/GetOrder", code: "OK", durationMs: 1.5 });
    expect(formatPinoLine(line, false)).toBe("10:11:12.345 INFO  rpc rpc=/orders.v1.OrderService/GetOrder code=OK durationMs=1.5");
  });

  it("quotes values with spaces and shows an error by its type and message", () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: "failed to start", reason: "two words", err: { type: "Error", message: "boom", stack: "Error: boom\n    at x" } });
    expect(formatPinoLine(line, false)).toBe('00:00:00.000 ERROR failed to start reason="two words" err="Error: boom"');
  });

  it("colours the level only when asked", () => {
    const line = JSON.stringify({ level: 40, time: 0, msg: "slow" });
    expect(formatPinoLine(line, true)).toContain("\u001b[33mWARN \u001b[0m");
    expect(formatPinoLine(line, false)).not.toContain("\u001b[");
  });

  it("passes lines that are not pino JSON through unchanged", () => {
    expect(formatPinoLine("node:internal/modules/cjs/loader:1228", false)).toBe("node:internal/modules/cjs/loader:1228");
    expect(formatPinoLine("{not json", false)).toBe("{not json");
  });

  it("drops the timestamp and pid of PostgreSQL and nats-server lines", () => {
    expect(formatPostgresLine("2025-01-02 10:11:12.345 UTC [42] LOG:  database system is ready to accept connections", false)).toBe("LOG:  database system is ready to accept connections");
    expect(formatNatsLine("[42] 2025/01/02 10:11:12.345678 [INF] Server is ready", false)).toBe("[INF] Server is ready");
  });

  it("follows NO_COLOR and FORCE_COLOR before the terminal check", () => {
    expect(shouldColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(shouldColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true);
    expect(shouldColor({ isTTY: true }, {})).toBe(true);
    expect(shouldColor({}, {})).toBe(false);
  });
});
