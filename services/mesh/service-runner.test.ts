import { describe, expect, it } from "vitest";
import { parseListening, parseLogLine, parseMetricsListening } from "./service-runner.js";

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
