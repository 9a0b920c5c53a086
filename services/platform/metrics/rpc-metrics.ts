import { Code } from "@connectrpc/connect";
import { Histogram } from "prom-client";
import { metricsRegistry } from "./registry.js";

// Labels are bounded: service and method come from the descriptors, protocol is one of connect's
// three, code one of gRPC's seventeen.
const rpcServerDuration = new Histogram({
  name: "ordermesh_rpc_server_duration_seconds",
  help: "Duration of RPCs handled by this process (server-streaming: until the stream ended), by service, method, protocol and status code.",
  labelNames: ["service", "method", "protocol", "code"],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [metricsRegistry],
});

const codeNames = new Map<Code, string>(
  Object.values(Code)
    .filter((v): v is Code => typeof v === "number")
    .map((code) => [code, Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);
codeNames.set(0 as Code, "OK");

/** The gRPC status name of a code as metrics label it ("OK", "INVALID_ARGUMENT", ...). */
export function rpcCodeName(code: Code | 0): string {
  return codeNames.get(code as Code) ?? "UNKNOWN";
}

/** Records one finished RPC; `seconds` from its start to its end. */
export function observeRpc(service: string, method: string, protocol: string, code: Code | 0, seconds: number): void {
  rpcServerDuration.observe({ service, method, protocol, code: rpcCodeName(code) }, seconds);
}
