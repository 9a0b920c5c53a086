/**
 * Transport ceiling: a bare node:http2 server in its own process answering every gRPC request with a
 * canned, length-prefixed GetOrder response (the bytes the real service returned for a real order).
 * No protobuf, no handler, no database: what one Node process can answer on this machine.
 * The "service host" kind answers the same bytes through the mesh's own server stack instead
 * (grpc-js, the descriptor adapter, the instrumented handler, protobuf): the floor of one hop.
 */
import { fork } from "node:child_process";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { GetOrderResponseSchema, OrderService } from "../gen/orders/v1/orders_pb.js";
import { createLogger } from "../services/platform/process/index.js";
import { startServiceHost } from "../services/platform/rpc/index.js";
import { bindService } from "../services/platform/rpc/index.js";
import { frame } from "./grpc-h2-client.js";

/** Which server answers: bare node:http2, or the services' grpc-js host with a canned handler. */
export type CeilingKind = "bare-http2" | "service-host";

/** A running ceiling server. */
export interface Http2Ceiling {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** Forks the ceiling server answering with `response` (a serialised GetOrderResponse). */
export async function startHttp2Ceiling(response: Uint8Array, kind: CeilingKind = "bare-http2"): Promise<Http2Ceiling> {
  const child = fork(fileURLToPath(import.meta.url), [Buffer.from(response).toString("base64"), kind], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve((m as { port: number }).port));
    child.once("exit", (code) => reject(new Error(`http2 ceiling exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function serve(canned: Buffer): void {
  const body = frame(canned);
  const server = http2.createServer();
  server.on("stream", (stream) => {
    // Read the request to its end like a real server would, then answer: headers, message, trailers.
    stream.on("data", () => undefined);
    stream.on("end", () => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(body);
    });
    stream.on("error", () => undefined);
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on("SIGTERM", () => process.exit(0));
  process.on("disconnect", () => process.exit(0));
}

/** The same answer through startServiceHost, as every mesh service serves (logging at warn, as in the bench). */
async function serveWithServiceHost(canned: Buffer): Promise<void> {
  const response = fromBinary(GetOrderResponseSchema, canned);
  const host = await startServiceHost({
    logger: createLogger("ceiling", "warn"),
    host: "127.0.0.1",
    grpcPort: 0,
    // Only GetOrder is served; the adapter skips methods without a handler.
    services: [bindService(OrderService, { getOrder: () => response } as unknown as ServiceImpl<typeof OrderService>)],
    healthChecks: [],
  });
  process.send!({ port: host.grpcPort });
  process.on("SIGTERM", () => process.exit(0));
  process.on("disconnect", () => process.exit(0));
}

if (process.send && process.argv[2] !== undefined) {
  const canned = Buffer.from(process.argv[2], "base64");
  if (process.argv[3] === "service-host") void serveWithServiceHost(canned);
  else serve(canned);
}
