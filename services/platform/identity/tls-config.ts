import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError, type Env } from "../process/config.js";
import type { Logger } from "../process/logger.js";

/** A certificate chain and its private key, PEM. */
export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

/**
 * The process's TLS material, read once at start and shared by its listeners and its clients.
 * `identity` is both the listeners' server certificate and the client certificate it presents to
 * upstreams (mTLS); `ca` verifies peers: servers it calls and the client certificates it is shown.
 */
export interface TlsConfig {
  /** TLS_CERT_FILE + TLS_KEY_FILE; undefined: the listeners speak plaintext. */
  identity: KeyPair | undefined;
  /** TLS_CA_FILE; undefined: clients speak plaintext and listeners verify no client certificates. */
  ca: Buffer | undefined;
  /** WEB_TLS=off: the web port stays plaintext though the gRPC port has TLS (browsers that do not trust the dev CA). */
  webPlaintext?: boolean;
}

/** Reads a file's bytes; static checks of docker-compose.yml pass one that knows the container's files. */
export type ReadFile = (path: string) => Buffer;

/** Reads TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE; throws ConfigError naming the variable that is wrong. */
export function loadTlsConfig(env: Env = process.env, readFile: ReadFile = readFileSync): TlsConfig {
  const readPem = (name: string, path: string, label: string) => readPemFile(readFile, name, path, label);
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(`TLS_CERT_FILE and TLS_KEY_FILE go together: ${certFile ? "TLS_KEY_FILE" : "TLS_CERT_FILE"} is not set`);
  }
  const identity = certFile && keyFile ? { cert: readPem("TLS_CERT_FILE", certFile, "CERTIFICATE"), key: readPem("TLS_KEY_FILE", keyFile, "PRIVATE KEY") } : undefined;
  const ca = env.TLS_CA_FILE ? readPem("TLS_CA_FILE", env.TLS_CA_FILE, "CERTIFICATE") : undefined;
  const webTls = env.WEB_TLS || "on";
  if (webTls !== "on" && webTls !== "off") throw new ConfigError(`WEB_TLS must be "on" or "off", got "${webTls}"`);
  return { identity, ca, webPlaintext: webTls === "off" };
}

function readPemFile(readFile: ReadFile, name: string, path: string, label: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFile(path);
  } catch (err) {
    throw new ConfigError(`${name} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)} for "${path}"`);
  }
  // "PRIVATE KEY" also matches "EC PRIVATE KEY" and "RSA PRIVATE KEY"; a swapped cert and key fails here, not at the first handshake.
  if (!pem.toString("latin1").includes(`${label}-----`)) {
    throw new ConfigError(`${name} must be a PEM file with a ${label} block, got "${path}"`);
  }
  return pem;
}

/** Whether a bind address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "[::1]";
}

/**
 * Plaintext is the default on loopback only: a listener on another interface without TLS is allowed
 * (containers behind a gateway on a private network do so) but logged as a warning at every start.
 */
export function warnIfPlaintextExposed(logger: Logger, host: string, tls: TlsConfig, hasWebPort: boolean): void {
  if (isLoopback(host) || (tls.identity && !(hasWebPort && tls.webPlaintext))) return;
  logger.warn(
    { bindHost: host, grpcTls: tls.identity !== undefined, webTls: hasWebPort && tls.identity !== undefined && !tls.webPlaintext },
    `PLAINTEXT on non-loopback ${host}: anyone on the network can read and forge calls; set TLS_CERT_FILE and TLS_KEY_FILE (and TLS_CA_FILE for mTLS)`,
  );
}
