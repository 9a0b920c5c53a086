import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ShipmentStatus, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { createGrpcJsTransport, type ClosableTransport } from "../platform/rpc/index.js";
import type { KeyPair } from "../platform/identity/index.js";
import { shipmentRequest, startShippingServers, type ShippingServers } from "../../tests/support/shipping-harness.js";
import { createTestCertificates, type TestCertificates } from "../../tests/support/test-certificates.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { openShippingDatabase } from "./db/open-database.js";
import { readAuthConfig } from "../platform/process/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { createTestIssuer, type TestIssuer } from "../../tests/support/test-issuer.js";
import { serviceIdentityAccess } from "./shipping-access.js";

// Customers prove themselves with the bearer tokens OrderService takes, verified by the real jwt-auth.
let certs: TestCertificates;
let issuer: TestIssuer;
let testDb: TestDatabase;
let database: Awaited<ReturnType<typeof openShippingDatabase>>;
let servers: ShippingServers;
const transports: ClosableTransport[] = [];

beforeAll(async () => {
  certs = await createTestCertificates();
  testDb = await createTestDatabase("shipping_identity");
  database = await openShippingDatabase(testDb.url, 5);
  issuer = await createTestIssuer();
  const authenticator = await createCallerAuthenticator(readAuthConfig(issuer.env));
  servers = await startShippingServers(database, { tls: certs.tlsOf("shipping"), access: serviceIdentityAccess(), authenticator });
});

afterAll(async () => {
  transports.forEach((t) => t.close());
  await servers?.host.stop();
  await database?.close();
  await testDb?.drop();
  await issuer?.remove();
});

/** grpc-js over TLS (credentials.createSsl), as orders' shipping client dials: the CA it trusts and the certificate it shows. */
function grpcJsClient(identity: KeyPair | undefined, ca = certs.ca): Client<typeof ShippingService> {
  const transport = createGrpcJsTransport({ address: servers.grpcAddress, tls: { identity, ca } });
  transports.push(transport);
  return createClient(ShippingService, transport);
}

/** Connect over https (HTTP/2, ALPN) to the web port. */
function connectClient(identity: KeyPair | undefined, ca = certs.ca): Client<typeof ShippingService> {
  const nodeOptions = { ca, ...(identity ? { cert: identity.cert, key: identity.key } : {}) };
  return createClient(ShippingService, createConnectTransport({ baseUrl: servers.webUrl, httpVersion: "2", nodeOptions }));
}

/** Connect over https with HTTP/1.1 (what browsers without h2 use). */
function connectHttp1Client(identity: KeyPair | undefined): Client<typeof ShippingService> {
  const nodeOptions = { ca: certs.ca, ...(identity ? { cert: identity.cert, key: identity.key } : {}) };
  return createClient(ShippingService, createConnectTransport({ baseUrl: servers.webUrl, httpVersion: "1.1", nodeOptions }));
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  return (await outcomeOf(call)).code;
}

async function outcomeOf(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
    return { code: "OK", message: "" };
  } catch (err) {
    const error = ConnectError.from(err);
    return { code: Code[error.code], message: error.message };
  }
}

const clients = [
  { name: "grpc-js (gRPC port)", make: grpcJsClient },
  { name: "Connect over https h2 (web port)", make: (id: KeyPair | undefined) => connectClient(id) },
  { name: "Connect over https HTTP/1.1 (web port)", make: connectHttp1Client },
];

describe.each(clients)("ShippingService identity over mTLS: $name", ({ make }) => {
  it("lets orders, by its client certificate, create, read and cancel a shipment", async () => {
    const orders = make(certs.orders);
    const { shipment } = await orders.createShipment({ ...shipmentRequest(), customerId: "c-owner" });
    expect(shipment?.id).toBeTruthy();
    expect((await orders.getShipment({ id: shipment!.id })).shipment?.orderId).toBe(shipment!.orderId);
    expect((await orders.cancelShipment({ id: shipment!.id })).shipment?.id).toBe(shipment!.id);
  });

  it("refuses the hijack: CreateShipment for someone else's order with the caller's own address", async () => {
    const victim = shipmentRequest();
    const mallory = { ...victim, address: { ...victim.address!, name: "Mallory", line1: "666 Drop St" } };
    // No client certificate at all (TLS only, as any customer connects): UNAUTHENTICATED.
    expect(await codeOf(make(undefined).createShipment(mallory))).toBe("Unauthenticated");
    // A customer's token: PERMISSION_DENIED.
    expect(await codeOf(make(undefined).createShipment(mallory, { headers: await issuer.header("mallory") }))).toBe("PermissionDenied");
    // A forged token is refused as such.
    expect(await codeOf(make(undefined).createShipment(mallory, { headers: { authorization: "Bearer not.a.token" } }))).toBe("Unauthenticated");
    // Another mesh service's certificate: PERMISSION_DENIED.
    expect(await codeOf(make(certs.notifier).createShipment(mallory))).toBe("PermissionDenied");
    // Nothing was stored: orders' dispatch later creates the real shipment with the real address.
    expect(await servers.store.getByOrder(victim.orderId)).toBeUndefined();
    const { shipment } = await make(certs.orders).createShipment(victim);
    expect(shipment?.address?.name).toBe("Ada Lovelace");
  });

  it("refuses CancelShipment to anyone but orders", async () => {
    const { shipment } = await make(certs.orders).createShipment(shipmentRequest());
    expect(await codeOf(make(undefined).cancelShipment({ id: shipment!.id }))).toBe("Unauthenticated");
    expect(await codeOf(make(undefined).cancelShipment({ id: shipment!.id }, { headers: await issuer.header("c-1", { admin: true }) }))).toBe("PermissionDenied");
    expect((await servers.store.get(shipment!.id))?.status).toBe("pending");
  });

  it("takes CreateShipments from orders only, like CreateShipment", async () => {
    const req = shipmentRequest();
    expect(await codeOf(make(undefined).createShipments({ requests: [req] }))).toBe("Unauthenticated");
    expect(await codeOf(make(undefined).createShipments({ requests: [req] }, { headers: await issuer.header("c-root", { admin: true }) }))).toBe("PermissionDenied");
    expect(await codeOf(make(certs.carrier).createShipments({ requests: [req] }))).toBe("PermissionDenied");
    expect(await servers.store.getByOrder(req.orderId)).toBeUndefined();
    const { results } = await make(certs.orders).createShipments({ requests: [req] });
    expect(results[0]?.result.case).toBe("shipment");
  });

  it("takes UpdateShipmentStatus from an admin's token or the carrier's certificate, and from nobody else", async () => {
    const { shipment } = await make(certs.orders).createShipment(shipmentRequest());
    const report = (status: ShipmentStatus) => ({ id: shipment!.id, status });
    // Refused before anything is looked at: even a request for a missing shipment says who may call.
    expect(await codeOf(make(undefined).updateShipmentStatus(report(ShipmentStatus.PICKED_UP)))).toBe("Unauthenticated");
    const customer = await outcomeOf(make(undefined).updateShipmentStatus(report(ShipmentStatus.PICKED_UP), { headers: await issuer.header("c-ada") }));
    expect(customer).toEqual({ code: "PermissionDenied", message: expect.stringContaining("only be called by the carrier service or an admin, not by customer c-ada") });
    expect(await codeOf(make(certs.orders).updateShipmentStatus(report(ShipmentStatus.PICKED_UP)))).toBe("PermissionDenied");
    expect(await codeOf(make(certs.notifier).updateShipmentStatus(report(ShipmentStatus.PICKED_UP)))).toBe("PermissionDenied");
    expect(await codeOf(make(certs.forgedOrders).updateShipmentStatus(report(ShipmentStatus.PICKED_UP)))).not.toBe("OK");
    expect((await servers.store.get(shipment!.id))?.status).toBe("pending");
    const admin = { headers: await issuer.header("c-root", { admin: true }) };
    expect((await make(undefined).updateShipmentStatus(report(ShipmentStatus.PICKED_UP), admin)).shipment?.status).toBe(ShipmentStatus.PICKED_UP);
    expect((await make(certs.carrier).updateShipmentStatus(report(ShipmentStatus.DELIVERED))).shipment?.status).toBe(ShipmentStatus.DELIVERED);
  });

  it("answers reads to the customer who owns the order and to admins, NOT_FOUND to other customers", async () => {
    const { shipment } = await make(certs.orders).createShipment({ ...shipmentRequest(), customerId: "c-ada" });
    const anonymous = make(undefined);
    const as = async (customer: string, admin = false) => ({ headers: await issuer.header(customer, { admin }) });
    expect((await anonymous.getShipment({ id: shipment!.id }, await as("c-ada"))).shipment?.id).toBe(shipment!.id);
    expect((await anonymous.getShipmentByOrder({ orderId: shipment!.orderId }, await as("c-ada"))).shipment?.id).toBe(shipment!.id);
    expect((await anonymous.getShipment({ id: shipment!.id }, await as("c-root", true))).shipment?.id).toBe(shipment!.id);
    expect(await codeOf(anonymous.getShipment({ id: shipment!.id }, await as("c-mallory")))).toBe("NotFound");
    expect(await codeOf(anonymous.getShipmentByOrder({ orderId: shipment!.orderId }, await as("c-mallory")))).toBe("NotFound");
    expect(await codeOf(anonymous.getShipment({ id: shipment!.id }))).toBe("Unauthenticated");
    expect(await codeOf(make(certs.notifier).getShipment({ id: shipment!.id }))).toBe("PermissionDenied");
  });

  it("does not take a certificate naming orders from a CA it does not trust as orders", async () => {
    const code = await codeOf(make(certs.forgedOrders).createShipment(shipmentRequest()));
    // The handshake may be refused outright (UNAVAILABLE) or the certificate ignored (UNAUTHENTICATED); never OK.
    expect(["Unauthenticated", "Unavailable"]).toContain(code);
  });
});

describe("TLS on shipping's listeners", () => {
  it("a grpc-js client that does not trust the mesh CA cannot connect", async () => {
    expect(await codeOf(grpcJsClient(certs.orders, certs.otherCa).createShipment(shipmentRequest()))).toBe("Unavailable");
  });

  it("a Connect client that does not trust the mesh CA cannot connect", async () => {
    // connect-node reports a failed verification as INTERNAL with Node's TLS error; what matters is that it says so.
    const outcome = await outcomeOf(connectClient(certs.orders, certs.otherCa).createShipment(shipmentRequest()));
    expect(outcome.code).not.toBe("OK");
    expect(outcome.message).toMatch(/certificate/i);
  });

  it("a plaintext gRPC client to the TLS gRPC port fails", async () => {
    const transport = createGrpcJsTransport({ address: servers.grpcAddress });
    transports.push(transport);
    const code = await codeOf(createClient(ShippingService, transport).getShipment({ id: crypto.randomUUID() }, { timeoutMs: 3000 }));
    expect(["Unavailable", "DeadlineExceeded"]).toContain(code);
  });

  it("a plaintext Connect client (h2c and HTTP/1.1) to the TLS web port fails", async () => {
    const plainUrl = servers.webUrl.replace("https://", "http://");
    for (const transport of [createGrpcTransport({ baseUrl: plainUrl }), createConnectTransport({ baseUrl: plainUrl, httpVersion: "1.1" })]) {
      const outcome = await outcomeOf(createClient(ShippingService, transport).getShipment({ id: crypto.randomUUID() }, { timeoutMs: 3000 }));
      expect(outcome.code, outcome.message).not.toBe("OK");
      // Any answer of the server itself (UNAUTHENTICATED for this anonymous read) would mean plaintext got through.
      expect(["OK", "NotFound", "Unauthenticated", "InvalidArgument"], outcome.message).not.toContain(outcome.code);
    }
  });
});
