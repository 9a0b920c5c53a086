import type { SecureContextOptions, TlsOptions } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { TlsConfig } from "./tls-config.js";

/**
 * The gRPC port's credentials: plaintext without an identity; TLS with it. With a CA as well, client
 * certificates are requested and verified but not required, so customers (grpcurl, browsers through
 * Envoy) connect with server-side TLS and only the calls that need a service identity ask for one.
 */
export function grpcServerCredentials(tls: TlsConfig): grpc.ServerCredentials {
  const { identity, ca } = tls;
  if (!identity) return grpc.ServerCredentials.createInsecure();
  // createSsl(ca, pairs, true) would refuse every connection without a client certificate, and with
  // false it never asks for one; the certificate-provider credentials can ask without requiring.
  if (!ca) return grpc.ServerCredentials.createSsl(null, [{ cert_chain: identity.cert, private_key: identity.key }], false);
  const provider = staticCertificates(ca, identity.cert, identity.key);
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** Credentials of a client channel: TLS verified against TLS_CA_FILE (presenting this process's certificate) or plaintext without a CA. */
export function grpcChannelCredentials(tls: TlsConfig): grpc.ChannelCredentials {
  if (!tls.ca) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.identity?.key ?? null, tls.identity?.cert ?? null);
}

/** node:tls server options of the web port: the same certificate and the same optional client verification as the gRPC port. */
export function webServerTlsOptions(tls: TlsConfig): (TlsOptions & SecureContextOptions) | undefined {
  if (!tls.identity) return undefined;
  return {
    cert: tls.identity.cert,
    key: tls.identity.key,
    ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: false } : {}),
    // ALPN replaces the cleartext port's preface sniffing: h2 for Connect/gRPC clients, HTTP/1.1 for the rest.
    ALPNProtocols: ["h2", "http/1.1"],
  };
}

/** A grpc-js certificate provider over certificates already in memory (read once at start). */
function staticCertificates(ca: Buffer, certificate: Buffer, privateKey: Buffer): grpc.experimental.CertificateProvider {
  // grpc-js subscribes to the provider before it registers the server's watcher: an update delivered
  // synchronously is lost and the port drops every connection ("unloaded credentials"). A microtask
  // later the watcher is there, and still before the first connection can arrive.
  return {
    addCaCertificateListener: (listener) => queueMicrotask(() => listener({ caCertificate: ca })),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (listener) => queueMicrotask(() => listener({ certificate, privateKey })),
    removeIdentityCertificateListener: () => {},
  };
}
