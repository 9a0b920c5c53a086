import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { TLSSocket, type PeerCertificate } from "node:tls";
import type * as grpc from "@grpc/grpc-js";
import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";

/** URI SAN prefix naming a mesh service in its certificate: spiffe://ordermesh/<service>. */
export const serviceUriPrefix = "spiffe://ordermesh/";

/** A mesh service proven by a client certificate the listener verified against TLS_CA_FILE. */
export interface ServicePeer {
  kind: "service";
  /** The service name from the certificate's spiffe://ordermesh/<name> URI SAN. */
  name: string;
}

/** The verified service peer of a call; undefined for plaintext calls and unverified or absent client certificates. */
export const servicePeerKey = createContextKey<ServicePeer | undefined>(undefined, { description: "verified mTLS service peer" });

/** The service peer of a handler context, if the call came with a verified mesh client certificate. */
export function servicePeerOf(ctx: HandlerContext): ServicePeer | undefined {
  return ctx.values.get(servicePeerKey);
}

/** The service named by a verified certificate's URI SAN, undefined when it names none. */
export function servicePeerFromCertificate(cert: PeerCertificate | undefined): ServicePeer | undefined {
  // subjectaltname reads "DNS:orders, URI:spiffe://ordermesh/orders, IP Address:127.0.0.1".
  for (const entry of cert?.subjectaltname?.split(", ") ?? []) {
    if (!entry.startsWith(`URI:${serviceUriPrefix}`)) continue;
    const name = entry.slice(`URI:${serviceUriPrefix}`.length);
    if (/^[a-z][a-z0-9-]{0,62}$/.test(name)) return { kind: "service", name };
  }
  return undefined;
}

/** Context values of a grpc-js call: grpc-js reports a peer certificate only once the handshake verified it. */
export function grpcPeerContextValues(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, "getAuthContext">): ContextValues {
  const values = createContextValues();
  const peer = servicePeerFromCertificate(call.getAuthContext().sslPeerCertificate);
  if (peer) values.set(servicePeerKey, peer);
  return values;
}

/**
 * Context values of a connect-node request on the web port. The web listener requests client
 * certificates without rejecting unverified ones (customers have none), so `authorized` decides here.
 */
export function webPeerContextValues(req: IncomingMessage | Http2ServerRequest): ContextValues {
  const values = createContextValues();
  const socket = req.socket;
  if (socket instanceof TLSSocket || typeof (socket as Partial<TLSSocket>).getPeerCertificate === "function") {
    const tlsSocket = socket as TLSSocket;
    const peer = tlsSocket.authorized ? servicePeerFromCertificate(tlsSocket.getPeerCertificate()) : undefined;
    if (peer) values.set(servicePeerKey, peer);
  }
  return values;
}
