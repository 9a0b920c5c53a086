import { createCertificateAuthority } from "../../services/mesh/dev-certificates.js";
import type { KeyPair, TlsConfig } from "../../services/platform/identity/index.js";

/** A throwaway mesh CA with certificates for orders, notifier, shipping and the carrier, and one from a CA nobody trusts. */
export interface TestCertificates {
  ca: Buffer;
  orders: KeyPair;
  notifier: KeyPair;
  shipping: KeyPair;
  /** The carrier service that reports shipment status (spiffe://ordermesh/carrier). */
  carrier: KeyPair;
  /** Names itself "orders" but is signed by another CA. */
  forgedOrders: KeyPair;
  /** The other CA's certificate: trusting it instead of the mesh CA must fail. */
  otherCa: Buffer;
  /** A service's TlsConfig: its certificate and the mesh CA. */
  tlsOf(service: "orders" | "notifier" | "shipping"): TlsConfig;
}

/** Creates the certificates in memory (ECDSA P-256: milliseconds). */
export async function createTestCertificates(): Promise<TestCertificates> {
  const ca = await createCertificateAuthority("ordermesh test CA");
  const other = await createCertificateAuthority("not the mesh CA");
  const pair = async (authority: typeof ca, name: string): Promise<KeyPair> => {
    const issued = await authority.issue(name);
    return { cert: Buffer.from(issued.certPem), key: Buffer.from(issued.keyPem) };
  };
  const certs = {
    ca: Buffer.from(ca.certPem),
    otherCa: Buffer.from(other.certPem),
    orders: await pair(ca, "orders"),
    notifier: await pair(ca, "notifier"),
    shipping: await pair(ca, "shipping"),
    carrier: await pair(ca, "carrier"),
    forgedOrders: await pair(other, "orders"),
  };
  return { ...certs, tlsOf: (service) => ({ identity: certs[service], ca: certs.ca }) };
}
