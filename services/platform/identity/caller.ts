import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";

/** The verified identity behind a call, handed to handlers through the HandlerContext's values. */
export interface Caller {
  /** The customer id: the token's `sub`; empty only for the caller AUTH_DISABLED stands in for. */
  customerId: string;
  /** The token's `email` claim, empty when the token has none. */
  email: string;
  /** `roles` contains "admin": may read and act on every customer's orders. */
  admin: boolean;
}

/**
 * What handlers see when AUTH_DISABLED=true: an admin with no customer id of its own, so requests are
 * served as they say (the behaviour before identity existed).
 */
export const unauthenticatedAdmin: Caller = Object.freeze({ customerId: "", email: "", admin: true });

/** The context value the authentication step sets before a handler runs. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "verified caller" });

/** The verified caller of this call; UNAUTHENTICATED if the service's policy did not establish one. */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  // Reached only if a handler that needs a caller is bound with an "open" policy: fail closed.
  if (!caller) throw new ConnectError("this call needs a bearer token", Code.Unauthenticated);
  return caller;
}

/** May this caller act on data of this customer? */
export function mayActFor(caller: Caller, customerId: string): boolean {
  return caller.admin || caller.customerId === customerId;
}
