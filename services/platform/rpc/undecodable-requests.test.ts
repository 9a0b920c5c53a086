import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentSchema, ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { newGrpcJsClient } from "../../../tests/support/grpc-js-clients.js";
import { httpRequest } from "../../../tests/support/http-request.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// GetShipmentRequest is { string id = 1 }: each body below is a request that cannot be decoded as one.
const bodies = {
  "a truncated field": Buffer.from([0x0a, 0x05, 0x61]),
  "invalid UTF-8 in a string": Buffer.from([0x0a, 0x02, 0xff, 0xfe]),
  "a wrong wire type for a field": Buffer.from([0x0b]),
  "random bytes": Buffer.from("fe7c0a9931d2ff00", "hex"),
};
const path = `/${ShippingService.typeName}/GetShipment`;
let host: ServiceHost;
let handled = 0;

beforeAll(async () => {
  const unimplemented = () => {
    throw new ConnectError("not in this test", Code.Unimplemented);
  };
  host = await startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    webPort: 0,
    healthChecks: [],
    services: [
      bindService(ShippingService, {
        getShipment(req) {
          handled++;
          return { shipment: create(ShipmentSchema, { id: req.id }) };
        },
        createShipment: unimplemented,
        getShipmentByOrder: unimplemented,
        createShipments: unimplemented,
        updateShipmentStatus: unimplemented,
        cancelShipment: unimplemented,
      }),
    ],
  });
});

afterAll(async () => {
  await host?.stop();
});

function grpcJsRaw(port: number, body: Buffer): Promise<grpc.ServiceError> {
  const client = newGrpcJsClient(`127.0.0.1:${port}`);
  return new Promise<grpc.ServiceError>((resolve, reject) =>
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, (err) => (err ? resolve(err) : reject(new Error("the call succeeded")))),
  ).finally(() => client.close());
}

function envelope(body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** The length-prefixed frames of a gRPC-Web body. */
function grpcWebFrames(bytes: Buffer): Array<{ flags: number; data: Buffer }> {
  const frames: Array<{ flags: number; data: Buffer }> = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    frames.push({ flags: bytes[at]!, data: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return frames;
}

describe.each(Object.entries(bodies))("a request with %s", (_what, body) => {
  it("is INVALID_ARGUMENT on gRPC (grpc-js on the gRPC port, connect-node on the web port)", async () => {
    for (const port of [host.grpcPort, host.webPort!]) {
      const err = await grpcJsRaw(port, body);
      expect(err.code, `port ${port}: ${err.details}`).toBe(grpc.status.INVALID_ARGUMENT);
      expect(decodeURIComponent(err.details)).toMatch(/^the request is not a valid shipping\.v1\.GetShipmentRequest: /);
    }
  });

  it("is INVALID_ARGUMENT (HTTP 400) on Connect", async () => {
    const res = await httpRequest(`http://127.0.0.1:${host.webPort}${path}`, { method: "POST", headers: { "content-type": "application/proto" }, body });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/^the request is not a valid shipping\.v1\.GetShipmentRequest: /) });
  });

  it("is INVALID_ARGUMENT on gRPC-Web", async () => {
    const res = await httpRequest(`http://127.0.0.1:${host.webPort}${path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: envelope(body),
    });
    expect(res.status).toBe(200);
    const frames = grpcWebFrames(res.bytes);
    expect(frames.map((f) => f.flags)).toEqual([0x80]);
    const trailer = trailerParse(frames[0]!.data);
    expect(trailer.get("grpc-status")).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(decodeURIComponent(trailer.get("grpc-message") ?? "")).toMatch(/^the request is not a valid shipping\.v1\.GetShipmentRequest: /);
  });
});

describe("requests that decode", () => {
  it("still reach the handler on every protocol, and bad JSON stays INVALID_ARGUMENT", async () => {
    const valid = Buffer.from([0x0a, 0x01, 0x61]);
    const before = handled;
    const connect = await httpRequest(`http://127.0.0.1:${host.webPort}${path}`, { method: "POST", headers: { "content-type": "application/proto" }, body: valid });
    expect(connect.status).toBe(200);
    const grpcWeb = await httpRequest(`http://127.0.0.1:${host.webPort}${path}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: envelope(valid) });
    const frames = grpcWebFrames(grpcWeb.bytes);
    expect(frames.map((f) => f.flags)).toEqual([0, 0x80]);
    expect(trailerParse(frames[1]!.data).get("grpc-status")).toBe("0");
    expect(handled - before).toBe(2);
    const json = await httpRequest(`http://127.0.0.1:${host.webPort}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"id": 5' });
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body)).toMatchObject({ code: "invalid_argument" });
  });
});
