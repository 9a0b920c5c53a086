import { createHash, randomBytes, randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { type CreateOrderRequest, CreateOrderRequestSchema, type Order, OrderSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import { catalogue, encodeEvent } from "../platform/events/index.js";
import { callerOf, mayActFor, type Caller } from "../platform/identity/index.js";
import { invalidArgument } from "../platform/rpc/index.js";
import { requireUuid } from "../platform/validation/index.js";
import { orderToProto } from "./order-mapping.js";
import type { OrderStore, StoredOrder } from "./order-store.js";
import { cancellation } from "./order-transitions.js";
import { limits, validateCreateOrder } from "./order-validation.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { OrderWatchHub } from "./order-watch-hub.js";
import { watchOrder } from "./watch-order.js";

const defaultPageSize = 50;
const maxPageSize = 500;
// 500 orders of 1,000 lines encode to ~40 MB, past every client's default receive limit (4 MiB) and
// many proxies'; a page stops growing at this many bytes instead, stated on page_size in the proto.
const maxPageBytes = 512 * 1024;

/** What the OrderService handlers need (reads and writes touch orders' database only, never shipping). */
export interface OrderServiceDeps {
  store: OrderStore;
  /** Key signing ListOrders page tokens; a random one (tokens die with the process) when omitted. */
  pageTokenKey?: Uint8Array;
  /** Feeds WatchOrder from orders' events; without one WatchOrder is UNIMPLEMENTED. */
  watchHub?: OrderWatchHub;
}

/** The OrderService handlers. */
export function createOrderService({ store, pageTokenKey = randomBytes(32), watchHub }: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  return {
    async createOrder(request, ctx) {
      const req = asCaller(callerOf(ctx), request);
      validateCreateOrder(req);
      const requestId = req.requestId === "" ? null : req.requestId;
      const requestHash = requestId ? fingerprint(req) : null;
      const now = new Date();
      const order: StoredOrder = {
        id: randomUUID(),
        customerId: req.customerId,
        customerEmail: req.customerEmail,
        currency: req.currency,
        totalCents: req.items.reduce((sum, i) => sum + BigInt(i.quantity) * i.unitPriceCents, 0n),
        status: "pending",
        shippingAddress: addressOf(req),
        requestId,
        requestHash,
        cancelReason: "",
        shipmentId: null,
        version: 1n,
        shipmentStatus: null,
        shipmentCarrier: "",
        shipmentTrackingNumber: "",
        shipmentUpdatedAt: null,
        shipmentVersion: 0n,
        createdAt: now,
        updatedAt: now,
        items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity, unitPriceCents: i.unitPriceCents })),
      };
      const proto = orderToProto(order);
      const event = encodeEvent(catalogue.orderCreated, { eventId: randomUUID(), order: proto, occurTime: timestampFromDate(now) });
      if (await store.insert({ ...order, event })) return { order: proto };

      // The request_id was taken: a retry gets the original order, a different payload is refused.
      const existing = await store.getByRequestId(req.customerId, requestId!);
      if (!existing) throw new ConnectError("order with this request_id is being removed; retry", Code.Aborted);
      if (existing.requestHash !== requestHash) {
        throw new ConnectError(`request_id "${requestId}" was already used for a different order (${existing.id})`, Code.AlreadyExists);
      }
      return { order: orderToProto(existing) };
    },

    async getOrder(req, ctx) {
      requireUuid("id", req.id);
      const order = await store.get(req.id);
      // Another customer's order is answered exactly like a missing one: its existence is not revealed.
      if (!order || !mayActFor(callerOf(ctx), order.customerId)) throw new ConnectError(`order ${req.id} not found`, Code.NotFound);
      return { order: orderToProto(order) };
    },

    async listOrders(request, ctx) {
      const caller = callerOf(ctx);
      // Empty means the caller's own orders; naming someone else's is refused outright (no existence to hide).
      const req = request.customerId === "" ? { ...request, customerId: caller.customerId } : request;
      if (!mayActFor(caller, req.customerId)) {
        throw notYourCustomerId();
      }
      if (req.customerId.trim() === "") throw invalidArgument([{ field: "customer_id", description: "is required" }]);
      if (req.pageSize < 0) throw invalidArgument([{ field: "page_size", description: "must not be negative" }]);
      // AIP-158: a page_size above the maximum is lowered to it rather than refused.
      const pageSize = req.pageSize === 0 ? defaultPageSize : Math.min(req.pageSize, maxPageSize);
      const after = req.pageToken === "" ? undefined : decodePageToken(pageTokenKey, req.customerId, req.pageToken);
      const rows = await store.listByCustomer(req.customerId, pageSize + 1, after);
      const page = pageWithinBytes(rows.slice(0, pageSize).map((o) => orderToProto(o)), maxPageBytes);
      const last = rows[page.length - 1];
      return {
        orders: page,
        nextPageToken: rows.length > page.length && last ? encodePageToken(pageTokenKey, req.customerId, last) : "",
      };
    },

    async cancelOrder(req, ctx) {
      requireUuid("id", req.id);
      const caller = callerOf(ctx);
      if (req.reason.length > limits.maxReasonLength) {
        throw invalidArgument([{ field: "reason", description: `must be at most ${limits.maxReasonLength} characters` }]);
      }
      const notFound = () => new ConnectError(`order ${req.id} not found`, Code.NotFound);
      const result = await store.changeWithEvents(req.id, (current, now) => {
        if (!mayActFor(caller, current.customerId)) throw notFound();
        const steps = cancellation(current, req.reason, now);
        return steps && { steps };
      });
      if (!result) throw notFound();
      return { order: orderToProto(result.order) };
    },

    watchOrder: (req, ctx) => watchOrder(watchHub, store, req, ctx),
  };
}

/**
 * The request as its caller may place it: a customer orders for themself (customer_id and customer_email
 * empty or the token's own), an admin for anyone. A customer's confirmation goes only to the address the
 * issuer vouches for: were the request's email taken when the token has none, anyone with a token could
 * make the notifier mail any address.
 */
function asCaller(caller: Caller, req: CreateOrderRequest): CreateOrderRequest {
  if (caller.admin) return req;
  if (req.customerId !== "" && req.customerId !== caller.customerId) {
    throw notYourCustomerId();
  }
  if (caller.email === "") {
    throw new ConnectError("your token carries no email claim: a customer's orders are confirmed to the token's email", Code.PermissionDenied);
  }
  if (req.customerEmail !== "" && req.customerEmail !== caller.email) {
    throw new ConnectError("customer_email must be empty or the email of your token", Code.PermissionDenied);
  }
  return { ...req, customerId: caller.customerId, customerEmail: caller.email };
}

/** A customer naming another customer's id (CreateOrder, ListOrders). */
function notYourCustomerId(): ConnectError {
  return new ConnectError("customer_id must be empty or your own customer id (the token's subject)", Code.PermissionDenied);
}

/** The leading orders whose encoding fits in maxBytes; always at least one, so every page makes progress. */
function pageWithinBytes(orders: Order[], maxBytes: number): Order[] {
  let bytes = 0;
  for (const [i, order] of orders.entries()) {
    // Each order is a length-delimited field 1 of the response: tag, length varint (at most 5 bytes), body.
    bytes += toBinary(OrderSchema, order).byteLength + 6;
    if (bytes > maxBytes && i > 0) return orders.slice(0, i);
  }
  return orders;
}

function addressOf(req: CreateOrderRequest) {
  const a = req.shippingAddress!;
  return { name: a.name, line1: a.line1, line2: a.line2, city: a.city, postalCode: a.postalCode, country: a.country };
}

/** Hash of the request without its request_id: equal for a retry, different for another order. */
function fingerprint(req: CreateOrderRequest): string {
  const bytes = toBinary(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { ...req, requestId: "" }));
  return createHash("sha256").update(bytes).digest("base64url");
}
