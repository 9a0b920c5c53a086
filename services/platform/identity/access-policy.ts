import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { callerKey } from "./caller.js";
import type { CallerAuthenticator } from "./jwt-auth.js";

/**
 * Who may call a service, declared with its binding and enforced before any of its handlers runs:
 * "open" (anyone), "customer-token" (a verified bearer token; the caller is in ctx.values under
 * callerKey), "customer-token-if-sent" (a token is verified when the call carries one, and a bad one
 * is refused; calls without one reach the handlers, which decide by other identities such as mTLS),
 * "admin-token" (a verified bearer token whose roles hold "admin": operator tools), or a custom check
 * that throws to refuse and may set context values itself.
 */
export type AccessPolicy = "open" | "customer-token" | "customer-token-if-sent" | "admin-token" | CustomAccessPolicy;

/** A service's own admission rule (service identity, a mix of customers and services...). */
export type CustomAccessPolicy = (ctx: HandlerContext, authenticator: CallerAuthenticator | undefined) => Promise<void>;

/** Runs the policy for one call; rejects with the refusal (UNAUTHENTICATED, PERMISSION_DENIED...). */
export async function admit(policy: AccessPolicy, ctx: HandlerContext, authenticator: CallerAuthenticator | undefined): Promise<void> {
  if (policy === "open") return;
  if (typeof policy === "function") return policy(ctx, authenticator);
  if (policy === "customer-token-if-sent" && !(authenticator && ctx.requestHeader.has("authorization"))) return;
  if (policy === "admin-token") return admitAdmin(ctx, authenticator);
  ctx.values.set(callerKey, await authenticator!.authenticate(ctx.requestHeader));
}

/**
 * The admin-token policy. A process that verifies no tokens (a shipping without AUTH_*) serves its
 * admin RPCs to nobody rather than to everybody: no caller could prove to be an admin there.
 */
async function admitAdmin(ctx: HandlerContext, authenticator: CallerAuthenticator | undefined): Promise<void> {
  if (!authenticator) throw new ConnectError("this process verifies no bearer tokens (AUTH_* is not set), so no caller can prove to be an admin", Code.Unauthenticated);
  const caller = await authenticator.authenticate(ctx.requestHeader);
  if (!caller.admin) throw new ConnectError("only an admin may call this service (a token whose roles hold \"admin\")", Code.PermissionDenied);
  ctx.values.set(callerKey, caller);
}
