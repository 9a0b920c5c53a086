import { Code, ConnectError, createClient, type Client, type HandlerContext } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { createGrpcJsTransport, type ClosableTransport } from "./grpc-js-transport.js";
import { invalidArgument } from "./rpc-errors.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// A stub ShippingService whose GetShipment behaves by id, so each transport path can be made to happen.
const cancelled = new Set<string>();
const stub = {
  async getShipment(req: { id: string }, ctx: HandlerContext) {
    switch (req.id) {
      case "bad":
        throw invalidArgument([{ field: "id", description: "must be a UUID" }]);
      case "missing":
        throw new ConnectError("shipment missing not found", Code.NotFound);
      case "hang":
      case "hang-until-cancelled":
        // Answers only when the call is cancelled or its deadline passes.
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        cancelled.add(req.id);
        throw new ConnectError("gave up", Code.Canceled);
      default:
        ctx.responseHeader.set("x-served-by", "stub");
        ctx.responseTrailer.set("x-rows-read", "1");
        return { shipment: { id: req.id, carrier: ctx.requestHeader.get("traceparent") ?? "", trackingNumber: String(ctx.timeoutMs() !== undefined) } };
    }
  },
};

let host: ServiceHost;
let transport: ClosableTransport;
let client: Client<typeof ShippingService>;

beforeAll(async () => {
  host = await startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    services: [bindService(ShippingService, stub as never)],
    healthChecks: [],
  });
  transport = createGrpcJsTransport({ address: `127.0.0.1:${host.grpcPort}` });
  client = createClient(ShippingService, transport);
});

afterAll(async () => {
  transport?.close();
  await host?.stop();
});

describe("grpc-js transport under a typed Connect client", () => {
  it("sends the request with its headers and deadline and returns the typed response", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await client.getShipment({ id: "s-1" }, { headers: { traceparent }, timeoutMs: 5_000 });
    expect(res.shipment?.id).toBe("s-1");
    expect(res.shipment?.carrier).toBe(traceparent);
    expect(res.shipment?.trackingNumber).toBe("true"); // the server saw a deadline
  });

  it("hands response headers and trailers to onHeader and onTrailer", async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    await client.getShipment({ id: "s-2" }, { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) });
    expect(header?.get("x-served-by")).toBe("stub");
    expect(trailer?.get("x-rows-read")).toBe("1");
  });

  it("turns a gRPC status into a ConnectError with the same code and message", async () => {
    const err = await client.getShipment({ id: "missing" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).rawMessage).toBe("shipment missing not found");
  });

  it("keeps google.rpc error details from grpc-status-details-bin", async () => {
    const err = ConnectError.from(await client.getShipment({ id: "bad" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    const [badRequest] = err.findDetails(BadRequestSchema);
    expect(badRequest?.fieldViolations).toEqual([expect.objectContaining({ field: "id", description: "must be a UUID" })]);
  });

  it("fails with DEADLINE_EXCEEDED when the deadline passes", async () => {
    const err = ConnectError.from(await client.getShipment({ id: "hang" }, { timeoutMs: 100 }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.DeadlineExceeded);
  });

  it("cancels the call on the server when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const call = client.getShipment({ id: "hang-until-cancelled" }, { signal: controller.signal }).catch((e: unknown) => e);
    setImmediate(() => controller.abort());
    expect(ConnectError.from(await call).code).toBe(Code.Canceled);
    await expect.poll(() => cancelled.has("hang-until-cancelled")).toBe(true);
  });

  it("rejects an already aborted signal without calling", async () => {
    const err = ConnectError.from(await client.getShipment({ id: "s-3" }, { signal: AbortSignal.abort() }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Canceled);
  });

  it("answers UNAVAILABLE when nothing listens", async () => {
    const closed = createGrpcJsTransport({ address: "127.0.0.1:9" });
    try {
      const err = ConnectError.from(await createClient(ShippingService, closed).getShipment({ id: "x" }, { timeoutMs: 2_000 }).catch((e: unknown) => e));
      expect(err.code).toBe(Code.Unavailable);
    } finally {
      closed.close();
    }
  });

  it("refuses streaming methods with UNIMPLEMENTED", async () => {
    const method = ShippingService.method.getShipment;
    const err = ConnectError.from(
      await transport.stream({ ...method, methodKind: "server_streaming" } as never, undefined, undefined, undefined, (async function* () {})()).catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.Unimplemented);
  });
});
