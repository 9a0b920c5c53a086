import { randomUUID } from "node:crypto";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { CreateShipmentsResultSchema, ShipmentSchema, ShipmentStatus, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { startServiceHost, statusOf, type ServiceHost } from "../../services/platform/rpc/index.js";
import { bindService } from "../../services/platform/rpc/index.js";
import { testLogger } from "./shipping-harness.js";

/** What CreateShipment (or one request of CreateShipments) answers to one call: a shipment ("ok") or an error with this code. */
export type ScriptedAnswer = Code | "ok";

/** A ShippingService on a real gRPC port whose CreateShipment and CancelShipment answer what each test scripts per order. */
export interface ScriptedShipping {
  host: ServiceHost;
  grpcAddress: string;
  /** CreateShipment's answers for the order's calls in turn; the last one repeats for every later call. Unscripted orders get "ok". */
  script(orderId: string, ...answers: [ScriptedAnswer, ...ScriptedAnswer[]]): void;
  /** How many CreateShipment calls (and CreateShipments requests) reached the server for this order. */
  calls(orderId: string): number;
  /** The order ids of every CreateShipments call so far, one array per call, in call order. */
  batches(): string[][];
  /** Makes the next CreateShipments calls fail as a whole with these codes in turn (before any request is answered). */
  failBatches(...codes: Code[]): void;
  /** CancelShipment's answers (by order_id) in turn, like script(); "ok" answers a CANCELLED shipment. */
  scriptCancel(orderId: string, ...answers: [ScriptedAnswer, ...ScriptedAnswer[]]): void;
  /** How many CancelShipment calls reached the server for this order. */
  cancelCalls(orderId: string): number;
}

/** Starts a scripted ShippingService (gRPC only, with health and reflection) on an ephemeral 127.0.0.1 port. */
export async function startScriptedShipping(): Promise<ScriptedShipping> {
  const creates = scriptBook();
  const cancels = scriptBook();
  const batches: string[][] = [];
  const batchFailures: Code[] = [];
  const unimplemented = () => Promise.reject(new ConnectError("not scripted", Code.Unimplemented));
  /** The next scripted CreateShipment answer for the order: its shipment, or throws the scripted error. */
  const answerFor = (orderId: string) => {
    creates.answer(orderId, "CreateShipment");
    return create(ShipmentSchema, { id: randomUUID(), orderId, status: ShipmentStatus.PENDING, carrier: "DHL", trackingNumber: "OM1", version: 1n });
  };
  const impl: ServiceImpl<typeof ShippingService> = {
    async createShipment({ orderId }) {
      return { shipment: answerFor(orderId) };
    },
    // Each request of a batch is one call of its order's script, answered on its own as ShippingService does.
    async createShipments({ requests }) {
      batches.push(requests.map((r) => r.orderId));
      const failure = batchFailures.shift();
      if (failure !== undefined) throw new ConnectError(`scripted ${Code[failure]} to CreateShipments`, failure);
      return {
        results: requests.map(({ orderId }) => {
          try {
            return create(CreateShipmentsResultSchema, { result: { case: "shipment", value: answerFor(orderId) } });
          } catch (err) {
            return create(CreateShipmentsResultSchema, { result: { case: "error", value: statusOf(err) } });
          }
        }),
      };
    },
    async cancelShipment({ orderId }) {
      cancels.answer(orderId, "CancelShipment");
      return { shipment: { id: randomUUID(), orderId, status: ShipmentStatus.CANCELLED, version: 2n } };
    },
    getShipment: unimplemented,
    getShipmentByOrder: unimplemented,
    updateShipmentStatus: unimplemented,
  };
  const host = await startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    services: [bindService(ShippingService, impl)],
    healthChecks: [],
  });
  return {
    host,
    grpcAddress: `127.0.0.1:${host.grpcPort}`,
    script: creates.script,
    calls: creates.calls,
    batches: () => batches.map((b) => [...b]),
    failBatches: (...codes) => void batchFailures.push(...codes),
    scriptCancel: cancels.script,
    cancelCalls: cancels.calls,
  };
}

/** Per-order scripted answers of one method and the calls it received. */
function scriptBook() {
  const scripts = new Map<string, ScriptedAnswer[]>();
  const counts = new Map<string, number>();
  return {
    script: (orderId: string, ...answers: ScriptedAnswer[]) => void scripts.set(orderId, answers),
    calls: (orderId: string) => counts.get(orderId) ?? 0,
    /** Counts the call and throws the scripted error, if this call's answer is one. */
    answer(orderId: string, method: string): void {
      const n = counts.get(orderId) ?? 0;
      counts.set(orderId, n + 1);
      const answers = scripts.get(orderId) ?? ["ok"];
      const answer = answers[Math.min(n, answers.length - 1)]!;
      if (answer !== "ok") throw new ConnectError(`scripted ${Code[answer]} to ${method} for order ${orderId}`, answer);
    },
  };
}
