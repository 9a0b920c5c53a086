import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { base64url, exportSPKI, importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { readFile } from "node:fs/promises";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { newSigningKey, type TokenSigner } from "../mesh/dev-issuer.js";
import { readAuthConfig } from "../platform/process/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import type { ServiceHost } from "../platform/rpc/index.js";
import { checkHealth, newHealthClient, reflect } from "../../tests/support/grpc-js-clients.js";
import { createOrdersDatabase, startOrdersHost, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { failure, rpcPaths, type RpcPath } from "../../tests/support/rpc-paths.js";
import { createTestIssuer, type TestIssuer } from "../../tests/support/test-issuer.js";

// Layer 2: OrderService behind the real authentication step, reached by every client path (grpc-js and
// Connect's gRPC on both ports, Connect JSON and gRPC-Web over HTTP/1.1 and h2c).
let db: OrdersDatabase;
let host: ServiceHost;
let paths: RpcPath[];
let issuer: TestIssuer;

beforeAll(async () => {
  db = await createOrdersDatabase();
  issuer = await createTestIssuer();
  host = await startOrdersHost(db.store, { authenticator: await createCallerAuthenticator(readAuthConfig(issuer.env)) });
  paths = rpcPaths(host.grpcPort, host.webPort!);
});

afterAll(async () => {
  paths?.forEach((p) => p.close());
  await host?.stop();
  await db?.close();
  await issuer?.remove();
});

/** A valid order placed as whoever the token says (customer id and email left to the token). */
const mine = (overrides: Parameters<typeof validCreateOrder>[0] = {}) => validCreateOrder({ customerId: "", customerEmail: "", ...overrides });

const now = () => Math.floor(Date.now() / 1000);

/** A token with exactly these claims and header, signed by signer (the test issuer's key unless given). */
function signed(claims: JWTPayload, options: { signer?: TokenSigner; kid?: string } = {}): Promise<string> {
  const signer = options.signer ?? issuer.signer;
  return new SignJWT({ sub: "alice", iss: signer.issuer, aud: signer.audience, exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: "ES256", kid: options.kid ?? signer.kid })
    .sign(signer.privateKey);
}

/** The test issuer's public key as the PEM bytes an HS256 forgery would use as its secret. */
async function publicKeyPem(): Promise<string> {
  const jwks = JSON.parse(await readFile(issuer.env.AUTH_JWKS_FILE, "utf8")) as { keys: JWK[] };
  return exportSPKI((await importJWK(jwks.keys[0]!, "ES256")) as CryptoKey);
}

const unsigned = (header: object, payload: object) =>
  `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.`;

// Each refused credential and the reason UNAUTHENTICATED must give for it.
const refusals: Array<[string, () => Promise<Record<string, string>>, string]> = [
  ["no authorization header", async () => ({}), "missing bearer token"],
  ["another scheme", async () => ({ authorization: "Basic YWxpY2U6c2VjcmV0" }), 'authorization header is not "Bearer <token>"'],
  ["a bearer that is not a JWT", async () => ({ authorization: "Bearer not-a-jwt" }), "token malformed"],
  ["a signature by another key under the issuer's kid", async () => {
    const other = (await newSigningKey(issuer.env.AUTH_ISSUER)).signer;
    return { authorization: `Bearer ${await signed({}, { signer: other, kid: issuer.signer.kid })}` };
  }, "token signature invalid"],
  ["a key the issuer does not publish", async () => ({ authorization: `Bearer ${await signed({}, { signer: (await newSigningKey(issuer.env.AUTH_ISSUER)).signer })}` }), "token signed by a key the issuer does not publish"],
  ["another issuer", async () => ({ authorization: `Bearer ${await signed({ iss: "https://evil.test" })}` }), "token issuer not accepted"],
  ["another audience", async () => ({ authorization: `Bearer ${await signed({ aud: ["billing", "reports"] })}` }), "token audience not accepted"],
  ["an expired token (beyond the 30 s leeway)", async () => ({ authorization: `Bearer ${await signed({ exp: now() - 60 })}` }), "token expired"],
  ["a token not valid yet (beyond the leeway)", async () => ({ authorization: `Bearer ${await signed({ nbf: now() + 120 })}` }), "token not yet valid"],
  ["a token without sub", async () => ({ authorization: `Bearer ${await signed({ sub: undefined })}` }), 'token claim "sub" invalid (missing)'],
  ["alg: none", async () => ({ authorization: `Bearer ${unsigned({ alg: "none", typ: "JWT" }, { sub: "alice", iss: issuer.env.AUTH_ISSUER, aud: "ordermesh", exp: now() + 600 })}` }), "token algorithm not accepted (asymmetric signatures only)"],
  ["HS256 keyed with the issuer's public key", async () => {
    const secret = new TextEncoder().encode(await publicKeyPem());
    const forged = await new SignJWT({ sub: "alice", roles: ["admin"] })
      .setProtectedHeader({ alg: "HS256", kid: issuer.signer.kid })
      .setIssuer(issuer.env.AUTH_ISSUER)
      .setAudience("ordermesh")
      .setExpirationTime("10m")
      .sign(secret);
    return { authorization: `Bearer ${forged}` };
  }, "token algorithm not accepted (asymmetric signatures only)"],
  ["a token longer than 8192 characters", async () => ({ authorization: `Bearer ${"a".repeat(9000)}` }), "token longer than 8192 characters"],
];

describe.each(refusals)("OrderService refuses %s", (_name, headers, reason) => {
  it("as UNAUTHENTICATED saying why, on every path, never echoing the token", async () => {
    const given = await headers();
    const token = given.authorization?.replace(/^\S+ /, "") ?? "";
    for (const path of paths) {
      for (const call of [
        () => path.call(OrderService.method.listOrders, {}, { headers: given }),
        () => path.call(OrderService.method.createOrder, mine(), { headers: given }),
      ]) {
        const failed = await failure(call());
        expect({ path: path.name, code: failed.code, message: failed.message }).toEqual({ path: path.name, code: Code.Unauthenticated, message: reason });
        // Not the token, nor its signature, nor a payload segment.
        for (const part of [token, ...token.split(".")].filter((p) => p.length >= 8)) expect(failed.message).not.toContain(part);
      }
    }
  });
});

describe("OrderService with valid tokens", () => {
  const as = async (customerId: string, admin = false) => ({ headers: await issuer.header(customerId, { admin }) });

  it("accepts a token a little past exp, within the clock leeway", async () => {
    const headers = { authorization: `Bearer ${await signed({ sub: "leeway", exp: now() - 5 })}` };
    for (const path of paths) expect((await path.call(OrderService.method.listOrders, {}, { headers })).orders).toEqual([]);
  });

  it("CreateOrder takes the customer from the token; another customer's id or email is PERMISSION_DENIED", async () => {
    for (const path of paths) {
      const alice = await as("alice");
      const { order } = await path.call(OrderService.method.createOrder, validCreateOrder({ customerId: "", customerEmail: "" }), alice);
      expect({ customer: order?.customerId, email: order?.customerEmail }).toEqual({ customer: "alice", email: "alice@example.com" });
      const same = await path.call(OrderService.method.createOrder, validCreateOrder({ customerId: "alice", customerEmail: "alice@example.com" }), alice);
      expect(same.order?.customerId).toBe("alice");
      const impostor = await failure(path.call(OrderService.method.createOrder, validCreateOrder({ customerId: "bob" }), alice));
      expect({ path: path.name, code: impostor.code }).toEqual({ path: path.name, code: Code.PermissionDenied });
      const otherEmail = await failure(path.call(OrderService.method.createOrder, validCreateOrder({ customerId: "", customerEmail: "bob@example.com" }), alice));
      expect({ path: path.name, code: otherEmail.code }).toEqual({ path: path.name, code: Code.PermissionDenied });
      // A token without an email claim cannot name an address for the notifier to mail.
      const noEmail = { headers: await issuer.header("dave", { email: "" }) };
      for (const customerEmail of ["", "victim@example.com"]) {
        const refused = await failure(path.call(OrderService.method.createOrder, validCreateOrder({ customerId: "", customerEmail }), noEmail));
        expect({ path: path.name, code: refused.code, message: refused.message }).toEqual({ path: path.name, code: Code.PermissionDenied, message: expect.stringContaining("no email claim") });
      }
    }
  });

  it("hides another customer's order: GetOrder and CancelOrder are NOT_FOUND, ListOrders PERMISSION_DENIED", async () => {
    const { order } = await paths[0]!.call(OrderService.method.createOrder, mine(), await as("carol"));
    const id = order!.id;
    const bob = await as("bob");
    const missing = crypto.randomUUID();
    for (const path of paths) {
      const get = await failure(path.call(OrderService.method.getOrder, { id }, bob));
      const getMissing = await failure(path.call(OrderService.method.getOrder, { id: missing }, bob));
      // Indistinguishable from an id that does not exist, but for the id itself.
      expect([get.code, get.message.replace(id, "<id>")]).toEqual([getMissing.code, getMissing.message.replace(missing, "<id>")]);
      expect(get.code).toBe(Code.NotFound);
      expect((await failure(path.call(OrderService.method.cancelOrder, { id, reason: "mine now" }, bob))).code).toBe(Code.NotFound);
      expect((await failure(path.call(OrderService.method.listOrders, { customerId: "carol" }, bob))).code).toBe(Code.PermissionDenied);
      // Bob's own list (customer_id empty = his own) does not contain it.
      expect((await path.call(OrderService.method.listOrders, {}, bob)).orders.map((o) => o.id)).not.toContain(id);
    }
    const { order: still } = await paths[0]!.call(OrderService.method.getOrder, { id }, await as("carol"));
    expect(still?.cancelReason).toBe("");
  });

  it("lets an admin read, list and cancel any customer's orders and order for them", async () => {
    const { order } = await paths[0]!.call(OrderService.method.createOrder, mine(), await as("dave"));
    const admin = await as("ops", true);
    for (const path of paths) {
      expect((await path.call(OrderService.method.getOrder, { id: order!.id }, admin)).order?.customerId).toBe("dave");
      expect((await path.call(OrderService.method.listOrders, { customerId: "dave" }, admin)).orders.map((o) => o.id)).toContain(order!.id);
    }
    const onBehalf = await paths[4]!.call(OrderService.method.createOrder, validCreateOrder({ customerId: "dave", customerEmail: "dave@elsewhere.test" }), admin);
    expect(onBehalf.order?.customerEmail).toBe("dave@elsewhere.test");
    const { order: cancelled } = await paths[4]!.call(OrderService.method.cancelOrder, { id: order!.id, reason: "fraud check" }, admin);
    expect(cancelled?.cancelReason).toBe("fraud check");
  });

  it("scopes request_id to the customer: ids never collide, ALREADY_EXISTS names only the caller's own order", async () => {
    const erin = await as("erin");
    const frank = await as("frank");
    const grpc = paths[0]!;
    const { order: erins } = await grpc.call(OrderService.method.createOrder, mine({ requestId: "shared-1" }), erin);
    const { order: franks } = await grpc.call(OrderService.method.createOrder, mine({ requestId: "shared-1", currency: "USD" }), frank);
    expect(franks?.id).not.toBe(erins?.id);
    expect(franks?.customerId).toBe("frank");
    // A retry is still a retry for each of them.
    expect((await grpc.call(OrderService.method.createOrder, mine({ requestId: "shared-1" }), erin)).order?.id).toBe(erins?.id);
    const reused = await failure(grpc.call(OrderService.method.createOrder, mine({ requestId: "shared-1", currency: "GBP" }), erin));
    expect(reused.code).toBe(Code.AlreadyExists);
    expect(reused.message).toContain(erins!.id);
    expect(reused.message).not.toContain(franks!.id);
  });
});

describe("open endpoints", () => {
  it("health and reflection answer without a token", async () => {
    const health = newHealthClient(`127.0.0.1:${host.grpcPort}`);
    try {
      expect(await checkHealth(health, "orders.v1.OrderService")).toBe("SERVING");
    } finally {
      health.close();
    }
    const listed = await reflect(`127.0.0.1:${host.grpcPort}`, "v1", { list_services: "" });
    expect((listed.list_services_response as { service: Array<{ name: string }> }).service.map((s) => s.name)).toContain("orders.v1.OrderService");
  });

  it("reflection is off when the host is told so (REFLECTION=off)", async () => {
    const quiet = await startOrdersHost(db.store, { webPort: undefined, reflection: false });
    try {
      await expect(reflect(`127.0.0.1:${quiet.grpcPort}`, "v1", { list_services: "" })).rejects.toMatchObject({ code: 12 });
    } finally {
      await quiet.stop();
    }
  });
});
