import * as http from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { OrderSchema, OrderService, WatchOrderRequestSchema, WatchOrderResponseSchema } from "../../../gen/orders/v1/orders_pb.js";
import { newGrpcJsClient } from "../../../tests/support/grpc-js-clients.js";
import { httpRequest } from "../../../tests/support/http-request.js";
import { failure, rpcPaths, type RpcPath } from "../../../tests/support/rpc-paths.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { collect, streamPaths, type StreamPath } from "../../../tests/support/stream-paths.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { startServiceHost, type ServiceHost, type ServiceHostOptions } from "./service-host.js";
import { bindService } from "./service-impl.js";

// Server streaming on every port and protocol, with OrderService.WatchOrder as the streaming method and
// handlers scripted per test: messages, errors, cancels, backpressure, shutdown, shedding and timeouts.

const id = "5f0c6c1e-7c43-4c5e-9d7e-2f2a1c7f9b10";
const watch = OrderService.method.watchOrder;

type WatchHandler = (req: { id: string }, ctx: HandlerContext) => AsyncIterable<{ order: ReturnType<typeof orderNamed> }>;

function orderNamed(name: string, bytes = 0) {
  return create(OrderSchema, { id: name, customerEmail: "x".repeat(bytes) });
}

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}

function notInThisTest(): never {
  throw new ConnectError("not in this test", Code.Unimplemented);
}

/** OrderService with a scripted watchOrder and a getOrder that waits for `unary.release()` when asked to. */
function streamingService(watchOrder: WatchHandler, access: Parameters<typeof bindService>[2] = "open") {
  const unary = { running: 0, release: () => {}, hold: false };
  let released = Promise.resolve();
  return {
    unary,
    holdUnary() {
      unary.hold = true;
      released = new Promise<void>((resolve) => (unary.release = resolve));
    },
    binding: bindService(
      OrderService,
      {
        async getOrder(req) {
          unary.running++;
          if (unary.hold) await released;
          return { order: orderNamed(req.id) };
        },
        watchOrder,
        createOrder: notInThisTest,
        listOrders: notInThisTest,
        cancelOrder: notInThisTest,
      },
      access,
    ),
  };
}

let host: ServiceHost | undefined;
let streams: StreamPath[] = [];
let unaryPaths: RpcPath[] = [];

async function start(options: Partial<ServiceHostOptions> & Pick<ServiceHostOptions, "services">): Promise<ServiceHost> {
  host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, webPort: 0, healthChecks: [], ...options });
  streams = streamPaths(host.grpcPort, host.webPort!);
  unaryPaths = rpcPaths(host.grpcPort, host.webPort!);
  return host;
}

afterEach(async () => {
  [...streams, ...unaryPaths].forEach((p) => p.close());
  streams = [];
  unaryPaths = [];
  await host?.stop();
  host = undefined;
});

describe("server streaming", () => {
  it("sends every message and ends OK, on every path", async () => {
    await start({
      services: [
        streamingService(async function* (req) {
          for (const n of [1, 2, 3]) yield { order: orderNamed(`${req.id}-${n}`) };
        }).binding,
      ],
    });
    for (const path of streams) {
      const { messages, ended } = collect(path, watch, { id });
      expect(await ended, path.name).toEqual({ code: "OK", message: "" });
      expect(messages.map((m) => m.order?.id), path.name).toEqual([`${id}-1`, `${id}-2`, `${id}-3`]);
    }
  });

  it("ends with the thrown error's code, before or after messages; an unexpected error is INTERNAL without its text", async () => {
    await start({
      services: [
        streamingService(async function* (req) {
          if (req.id === "none") throw new ConnectError("no such order", Code.NotFound);
          yield { order: orderNamed("first") };
          if (req.id === "bug") throw new Error("select * from secrets");
          throw new ConnectError("changed its mind", Code.FailedPrecondition);
        }).binding,
      ],
    });
    for (const path of streams) {
      const none = collect(path, watch, { id: "none" });
      expect(await none.ended, path.name).toEqual({ code: Code.NotFound, message: "no such order" });
      expect(none.messages, path.name).toEqual([]);
      const after = collect(path, watch, { id });
      expect(await after.ended, path.name).toEqual({ code: Code.FailedPrecondition, message: "changed its mind" });
      expect(after.messages.map((m) => m.order?.id), path.name).toEqual(["first"]);
      const bug = collect(path, watch, { id: "bug" });
      expect(await bug.ended, path.name).toEqual({ code: Code.Internal, message: "internal error" });
    }
  });

  it("admits the caller and refuses NUL characters before the handler runs, on every path", async () => {
    let ran = 0;
    const policy = async (ctx: HandlerContext) => {
      if (ctx.requestHeader.get("x-let-in") !== "yes") throw new ConnectError("not you", Code.Unauthenticated);
    };
    await start({
      services: [
        streamingService(async function* () {
          ran++;
          yield { order: orderNamed("x") };
        }, policy).binding,
      ],
    });
    for (const path of streams) {
      expect(await collect(path, watch, { id }).ended, path.name).toEqual({ code: Code.Unauthenticated, message: "not you" });
      const nul = await collect(path, watch, { id: "a\u0000b" }, { headers: { "x-let-in": "yes" } }).ended;
      expect(nul.code, path.name).toBe(Code.InvalidArgument);
      expect(nul.message, path.name).toMatch(/\bid\b/);
    }
    expect(ran).toBe(0);
  });

  it("answers a request that does not decode with INVALID_ARGUMENT on every protocol, without running the handler", async () => {
    let ran = 0;
    await start({
      services: [
        streamingService(async function* () {
          ran++;
          yield { order: orderNamed("x") };
        }).binding,
      ],
    });
    const invalidUtf8 = Buffer.from([0x0a, 0x02, 0xff, 0xfe]);
    const expected = /^the request is not a valid orders\.v1\.WatchOrderRequest: /;
    for (const port of [host!.grpcPort, host!.webPort!]) {
      const client = newGrpcJsClient(`127.0.0.1:${port}`);
      try {
        const err = await new Promise<grpc.ServiceError>((resolve) => {
          const call = client.makeServerStreamRequest(`/${OrderService.typeName}/WatchOrder`, (b: Buffer) => b, (b: Buffer) => b, invalidUtf8, new grpc.Metadata(), {});
          call.on("data", () => {});
          call.on("error", resolve);
        });
        expect(err.code, `port ${port}`).toBe(grpc.status.INVALID_ARGUMENT);
        expect(decodeURIComponent(err.details)).toMatch(expected);
      } finally {
        client.close();
      }
    }
    const url = `http://127.0.0.1:${host!.webPort}/${OrderService.typeName}/WatchOrder`;
    const connect = await httpRequest(url, { method: "POST", headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" }, body: envelope(invalidUtf8) });
    const [end] = envelopes(connect.bytes);
    expect(end?.flags).toBe(0b10);
    expect(JSON.parse(end!.data.toString("utf8"))).toMatchObject({ error: { code: "invalid_argument", message: expect.stringMatching(expected) } });
    const grpcWeb = await httpRequest(url, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: envelope(invalidUtf8) });
    const [trailer] = envelopes(grpcWeb.bytes);
    expect(trailer?.flags).toBe(0x80);
    expect(trailer!.data.toString("utf8")).toContain(`grpc-status: ${grpc.status.INVALID_ARGUMENT}`);
    expect(ran).toBe(0);
  });

  it("a client's cancel aborts ctx.signal and ends the handler, on every path", async () => {
    const state = { open: 0, finished: 0 };
    await start({
      services: [
        streamingService(async function* (_req, ctx) {
          state.open++;
          try {
            yield { order: orderNamed("first") };
            await aborted(ctx.signal);
          } finally {
            state.finished++;
          }
        }).binding,
      ],
    });
    for (const [i, path] of streams.entries()) {
      const cancel = new AbortController();
      const { messages, ended } = collect(path, watch, { id }, { signal: cancel.signal });
      await waitFor(() => messages.length === 1, { what: `${path.name}: the first message` });
      cancel.abort();
      expect((await ended).code, path.name).toBe(Code.Canceled);
      await waitFor(() => state.finished === i + 1, { what: `${path.name}: the handler's finally` });
    }
  });

  it("pulls the next message only when grpc-js has room for it: a client that stops reading stops the handler", async () => {
    let produced = 0;
    let finished = false;
    await start({
      services: [
        streamingService(async function* () {
          try {
            // 64 KiB each, without end: only backpressure keeps this loop from filling the memory.
            for (;;) {
              produced++;
              yield { order: orderNamed("big", 64 * 1024) };
            }
          } finally {
            finished = true;
          }
        }).binding,
      ],
    });
    const client = newGrpcJsClient(`127.0.0.1:${host!.grpcPort}`);
    try {
      const call = client.makeServerStreamRequest(
        `/${OrderService.typeName}/WatchOrder`,
        (msg: ReturnType<typeof create<typeof WatchOrderRequestSchema>>) => Buffer.from(toBinary(WatchOrderRequestSchema, msg)),
        (buf: Buffer) => fromBinary(WatchOrderResponseSchema, buf),
        create(WatchOrderRequestSchema, { id }),
        new grpc.Metadata(),
        {},
      );
      call.on("error", () => {});
      let received = 0;
      call.on("data", () => {
        received++;
        if (received === 5) call.pause();
      });
      await waitFor(() => received >= 5, { what: "five messages read" });
      // With the client paused, the handler soon stops being pulled: the count settles, far below what an
      // unbounded loop makes in the same time (tens of thousands).
      let last = -1;
      await waitFor(
        () => {
          const settled = produced === last;
          last = produced;
          return settled;
        },
        { intervalMs: 300, what: "the handler to stop being pulled" },
      );
      expect(produced).toBeLessThan(300);
      call.cancel();
      await waitFor(() => finished, { what: "the handler's finally after the cancel" });
    } finally {
      client.close();
    }
  });

  it("holds a load-shedding slot only until the first message: an open stream leaves MAX_IN_FLIGHT_CALLS to unary calls", async () => {
    let releaseFirst!: () => void;
    const firstReleased = new Promise<void>((resolve) => (releaseFirst = resolve));
    const service = streamingService(async function* (req, ctx) {
      if (req.id === "slow-start") await firstReleased;
      yield { order: orderNamed("first") };
      await aborted(ctx.signal);
    });
    await start({ services: [service.binding], limits: { maxInFlightCalls: 1 } });
    const [grpcPath] = streams;
    const getOrder = OrderService.method.getOrder;
    // A stream still producing its first message (say, reading the database) is a call in flight.
    const starting = collect(grpcPath!, watch, { id: "slow-start" });
    await waitFor(async () => (await failure(unaryPaths[0]!.call(getOrder, { id }))).code === Code.ResourceExhausted, { what: "the unary call shed" });
    releaseFirst();
    await waitFor(() => starting.messages.length === 1, { what: "the first message" });
    // Once it streams, it waits for events without a slot: unary calls run, and more streams open.
    const open = streams.map((path) => collect(path, watch, { id }));
    await waitFor(() => open.every((s) => s.messages.length === 1), { what: "every stream open" });
    for (const path of unaryPaths) expect((await path.call(getOrder, { id }, {})).order?.id, path.name).toBe(id);
    expect(service.unary.running).toBe(unaryPaths.length);
  });

  it("has no deadline unless the caller sets one, on every path; a caller's deadline ends it DEADLINE_EXCEEDED", async () => {
    const timeouts: Array<number | undefined> = [];
    await start({
      services: [
        streamingService(async function* (req, ctx) {
          timeouts.push(ctx.timeoutMs());
          yield { order: orderNamed("first") };
          if (req.id === "end") return;
          await aborted(ctx.signal);
          throw ctx.signal.reason;
        }).binding,
      ],
    });
    for (const path of streams) expect(await collect(path, watch, { id: "end" }).ended, path.name).toEqual({ code: "OK", message: "" });
    expect(timeouts).toEqual(streams.map(() => undefined));
    for (const path of streams) {
      const started = Date.now();
      const { messages, ended } = collect(path, watch, { id }, { timeoutMs: 300 });
      expect((await ended).code, path.name).toBe(Code.DeadlineExceeded);
      expect(messages.length, path.name).toBe(1);
      expect(Date.now() - started, path.name).toBeLessThan(3000);
    }
  });
});

describe("server streams at shutdown", () => {
  it("end UNAVAILABLE at once on every path while an in-flight unary call still finishes; stop takes far less than the grace", async () => {
    const service = streamingService(async function* (_req, ctx) {
      yield { order: orderNamed("first") };
      await aborted(ctx.signal);
      throw ctx.signal.reason;
    });
    const h = await start({ services: [service.binding], shutdownGraceMs: 10_000 });
    const open = streams.map((path) => collect(path, watch, { id }));
    await waitFor(() => open.every((s) => s.messages.length === 1), { what: "every stream open" });
    service.holdUnary();
    const unary = unaryPaths[0]!.call(OrderService.method.getOrder, { id });
    await waitFor(() => service.unary.running === 1, { what: "the unary call in flight" });

    const started = Date.now();
    const stopping = h.stop();
    const ends = await Promise.all(open.map((s) => s.ended));
    for (const [i, end] of ends.entries()) {
      expect(end.code, streams[i]!.name).toBe(Code.Unavailable);
      expect(end.message, streams[i]!.name).toMatch(/shutting down/);
    }
    // The streams are gone; the unary call has not been cut.
    service.unary.release();
    expect((await unary).order?.id).toBe(id);
    await stopping;
    host = undefined;
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a stream opened during the drain is refused at once", async () => {
    let opened = 0;
    const service = streamingService(async function* (_req, ctx) {
      opened++;
      yield { order: orderNamed("first") };
      await aborted(ctx.signal);
      throw ctx.signal.reason;
    });
    const h = await start({ services: [service.binding], shutdownGraceMs: 10_000 });
    service.holdUnary();
    const unary = unaryPaths[0]!.call(OrderService.method.getOrder, { id });
    await waitFor(() => service.unary.running === 1, { what: "the unary call in flight" });
    const stopping = h.stop();
    // The servers refuse it before any handler runs (grpc-js GOAWAY, the web port's 503).
    for (const path of [streams[0]!, streams[3]!]) expect((await collect(path, watch, { id }).ended).code, path.name).toBe(Code.Unavailable);
    service.unary.release();
    await unary;
    await stopping;
    host = undefined;
    expect(opened).toBe(0);
  });
});

describe("server streams on HTTP/1.1", () => {
  it("outlive REQUEST_TIMEOUT_MS and leave the kept-alive connection usable for the next call", async () => {
    await start({
      services: [
        streamingService(async function* () {
          yield { order: orderNamed("first") };
          // Longer than the request timeout below: the request was complete long before.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          yield { order: orderNamed("second") };
        }).binding,
      ],
      limits: { requestTimeoutMs: 500, headersTimeoutMs: 500 },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const url = `http://127.0.0.1:${host!.webPort}/${OrderService.typeName}/WatchOrder`;
      const first = await connectStreamRequest(agent, url);
      expect(first.status).toBe(200);
      expect(first.messages).toEqual(["first", "second"]);
      expect(first.endStream).toEqual({});
      const second = await connectStreamRequest(agent, url);
      expect(second).toMatchObject({ status: 200, reusedSocket: true, messages: ["first", "second"] });
    } finally {
      agent.destroy();
    }
  });
});

function envelope(body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** The length-prefixed envelopes of a streaming body. */
function envelopes(bytes: Buffer): Array<{ flags: number; data: Buffer }> {
  const found: Array<{ flags: number; data: Buffer }> = [];
  for (let at = 0; at + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    found.push({ flags: bytes[at]!, data: bytes.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return found;
}

/** One Connect streaming request (JSON envelopes) through an agent: the order ids streamed and the end-stream message. */
function connectStreamRequest(agent: http.Agent, url: string): Promise<{ status: number; reusedSocket: boolean; messages: string[]; endStream: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const messages: string[] = [];
        let endStream: unknown;
        for (const { flags, data } of envelopes(Buffer.concat(chunks))) {
          const json = JSON.parse(data.toString("utf8")) as { order?: { id: string } };
          if (flags & 0b10) endStream = json;
          else messages.push(json.order?.id ?? "");
        }
        resolve({ status: res.statusCode ?? 0, reusedSocket: req.reusedSocket, messages, endStream });
      });
    });
    req.on("error", reject);
    req.end(envelope(Buffer.from(JSON.stringify({ id }))));
  });
}
