import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { callerKey } from "../platform/identity/index.js";
import { servicePeerOf, type ServicePeer } from "../platform/identity/index.js";

/** A customer proven by a verified bearer token (the auth module's verified caller). */
export interface CustomerCaller {
  kind: "customer";
  /** The token's `sub`. */
  id: string;
  /** Whether the token carries the `admin` role. */
  admin: boolean;
}

/** Who is calling: a mesh service by its mTLS certificate, or a customer by token. */
export type Caller = ServicePeer | CustomerCaller;

/** Finds the verified customer of a call, undefined when it carries no (valid) token. */
export type CustomerOf = (ctx: HandlerContext) => CustomerCaller | undefined;

/** Who may do what on ShippingService; the handlers ask it before they act. */
export interface ShippingAccess {
  /** Throws UNAUTHENTICATED or PERMISSION_DENIED unless the caller may create and cancel shipments. */
  requireMutator(ctx: HandlerContext, rpc: string): void;
  /** Throws UNAUTHENTICATED or PERMISSION_DENIED unless the caller may report carrier status (an admin or the carrier). */
  requireStatusReporter(ctx: HandlerContext, rpc: string): void;
  /** Throws UNAUTHENTICATED or PERMISSION_DENIED when the caller may read no shipment at all. */
  requireReader(ctx: HandlerContext, rpc: string): void;
  /** Whether the caller may see a shipment of this customer's order (false: answer NOT_FOUND). */
  mayRead(ctx: HandlerContext, ownerId: string): boolean;
}

/** The one service that dispatches orders to shipping. */
export const shipmentMutator = "orders";

/** The service that reports what happens to parcels (its certificate names spiffe://ordermesh/carrier). */
export const carrierService = "carrier";

/**
 * The customer of a call as the binding's "customer-token-if-sent" policy verified it (jwt-auth puts
 * it in the context values); undefined when the call carried no token.
 */
export const customerFromToken: CustomerOf = (ctx) => {
  const caller = ctx.values.get(callerKey);
  return caller && caller.customerId !== "" ? { kind: "customer", id: caller.customerId, admin: caller.admin } : undefined;
};

/**
 * The production policy: only orders (by its verified client certificate) creates and cancels
 * shipments; the carrier (by its certificate) and admins (by token) report status; reads are for
 * orders, admins and the customer who owns the order.
 */
export function serviceIdentityAccess(customerOf: CustomerOf = customerFromToken): ShippingAccess {
  const callerOf = (ctx: HandlerContext): Caller | undefined => servicePeerOf(ctx) ?? customerOf(ctx);
  return {
    requireMutator(ctx, rpc) {
      const caller = callerOf(ctx);
      if (!caller) throw unauthenticated(rpc);
      if (caller.kind === "service" && caller.name === shipmentMutator) return;
      throw new ConnectError(`${rpc} may only be called by the ${shipmentMutator} service, not by ${describe(caller)}`, Code.PermissionDenied);
    },
    requireStatusReporter(ctx, rpc) {
      const caller = callerOf(ctx);
      if (!caller) throw unauthenticated(rpc);
      if (caller.kind === "service" ? caller.name === carrierService : caller.admin) return;
      throw new ConnectError(`${rpc} may only be called by the ${carrierService} service or an admin, not by ${describe(caller)}`, Code.PermissionDenied);
    },
    requireReader(ctx, rpc) {
      const caller = callerOf(ctx);
      if (!caller) throw unauthenticated(rpc);
      if (caller.kind === "service" && caller.name !== shipmentMutator) {
        throw new ConnectError(`${rpc} is not open to ${describe(caller)}`, Code.PermissionDenied);
      }
    },
    mayRead(ctx, ownerId) {
      const caller = callerOf(ctx);
      if (!caller) return false;
      if (caller.kind === "service") return caller.name === shipmentMutator;
      // "" is a shipment stored before owners were recorded: nobody's but the services' and admins'.
      return caller.admin || (ownerId !== "" && caller.id === ownerId);
    },
  };
}

/** No checks at all: AUTH_DISABLED=true (logged as a warning at start) and handler tests. */
export const allowAnyCaller: ShippingAccess = {
  requireMutator: () => {},
  requireStatusReporter: () => {},
  requireReader: () => {},
  mayRead: () => true,
};

function unauthenticated(rpc: string): ConnectError {
  return new ConnectError(
    `${rpc} needs a caller identity: a mesh service's mTLS client certificate (${shipmentMutator}, ${carrierService}), or a bearer token (customers' reads, admins' status reports)`,
    Code.Unauthenticated,
  );
}

function describe(caller: Caller): string {
  return caller.kind === "service" ? `the ${caller.name} service` : `customer ${caller.id}`;
}
