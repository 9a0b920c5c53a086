import { defaultCorsOrigins, defaultServerLimits, type ServerLimits } from "../rpc/server-limits.js";

/** Thrown when the environment does not describe a runnable service; the message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The environment a config is read from (process.env in production, a plain object in tests). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads a TCP port (0 to 65535) or returns the default when unset. */
export function readPort(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  // Number() would accept " ", "0x1F90" and "8e3" (blank even as port 0, a random port), so digits only.
  const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${name} must be a TCP port between 0 and 65535, got "${raw}"`);
  }
  return port;
}

/** Reads an optional port where "off" or "-1" disables the listener; returns undefined when disabled. */
export function readOptionalPort(env: Env, name: string, fallback: number): number | undefined {
  const raw = env[name];
  if (raw === "off" || raw === "-1") return undefined;
  return readPort(env, name, fallback);
}

/** Reads a string or returns the default when unset. */
export function readString(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === "" ? fallback : raw;
}

/** Reads a URL with one of the given schemes, or returns the default when unset. */
export function readUrl(env: Env, name: string, fallback: string, schemes: readonly string[]): string {
  const raw = readString(env, name, fallback);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL (${schemes.join(" or ")}), got "${raw}"`);
  }
  if (!schemes.includes(url.protocol.replace(/:$/, ""))) {
    throw new ConfigError(`${name} must use ${schemes.join(" or ")}, got "${url.protocol}" in "${raw}"`);
  }
  return raw;
}

/** Reads a "host:port" address or returns the default when unset. */
export function readHostPort(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name, fallback);
  if (!isHostPort(raw)) throw new ConfigError(`${name} must be host:port, got "${raw}"`);
  return raw;
}

function isHostPort(raw: string): boolean {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  return match !== null && Number(match[2]) <= 65535;
}

/**
 * Reads an upstream's gRPC target: "host:port", "dns:///host:port" (every address the name resolves to,
 * e.g. a Kubernetes headless Service) or "nats-service:///<name>" (the replicas registered with the
 * NATS service API), or returns the default when unset.
 */
export function readGrpcTarget(env: Env, name: string, fallback: string): string {
  const raw = readString(env, name, fallback);
  const dns = /^dns:(?:\/\/[^/]*\/)?(.+)$/.exec(raw);
  if (isHostPort(raw) || (dns && isHostPort(dns[1]!)) || /^nats-service:\/\/\/[A-Za-z0-9_-]+$/.test(raw)) return raw;
  throw new ConfigError(`${name} must be host:port, dns:///host:port or nats-service:///<service>, got "${raw}"`);
}

/** Reads a positive integer or returns the default when unset. */
export function readPositiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads a duration such as "500ms", "30s", "2m", "1.5h" or "7d" in milliseconds, or returns the default when
 * unset. A bare number is refused (seconds or milliseconds? the unit must be said). With `{ off: true }`
 * the value "off" is allowed and read as undefined (the feature is disabled).
 */
export function readDuration(env: Env, name: string, fallbackMs: number): number;
export function readDuration(env: Env, name: string, fallbackMs: number | undefined, options: { off: true }): number | undefined;
export function readDuration(env: Env, name: string, fallbackMs: number | undefined, options: { off?: boolean } = {}): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallbackMs;
  if (raw === "off" && options.off) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw);
  const ms = match ? Math.round(Number(match[1]) * durationUnits[match[2]!]!) : NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new ConfigError(`${name} must be a duration like 500ms, 30s, 2m, 1h or 7d${options.off ? ', or "off"' : ""}, got "${raw}"`);
  }
  return ms;
}

/** How a service verifies its callers' bearer tokens (the AUTH_* variables). */
export type AuthConfig =
  | { disabled: true }
  | {
      disabled: false;
      /** Path of a JWKS JSON file (AUTH_JWKS_FILE); re-read when it changes. */
      jwksFile?: string | undefined;
      /** URL of the issuer's JWKS (AUTH_JWKS_URL); fetched, cached and refreshed. */
      jwksUrl?: string | undefined;
      /** The only accepted `iss` (AUTH_ISSUER). */
      issuer: string;
      /** Must be among the token's `aud` (AUTH_AUDIENCE, default "ordermesh"). */
      audience: string;
    };

/**
 * Reads the AUTH_* variables shared by every service that identifies customers. No configuration at
 * all is refused rather than read as "open": AUTH_DISABLED=true has to be said out loud.
 */
export function readAuthConfig(env: Env): AuthConfig {
  if (readSwitch(env, "AUTH_DISABLED", false)) return { disabled: true };
  const jwksFile = env.AUTH_JWKS_FILE || undefined;
  const jwksUrl = env.AUTH_JWKS_URL ? readUrl(env, "AUTH_JWKS_URL", "", ["https", "http"]) : undefined;
  const issuer = env.AUTH_ISSUER || undefined;
  if ((!jwksFile && !jwksUrl) || !issuer) {
    throw new ConfigError("authentication is not configured: set AUTH_JWKS_FILE or AUTH_JWKS_URL, and AUTH_ISSUER (or AUTH_DISABLED=true to serve without authentication)");
  }
  if (jwksFile && jwksUrl) throw new ConfigError("set one of AUTH_JWKS_FILE and AUTH_JWKS_URL, not both");
  return { disabled: false, jwksFile, jwksUrl, issuer, audience: readString(env, "AUTH_AUDIENCE", "ordermesh") };
}

/**
 * The AUTH_* variables of a service for which customer tokens are optional (shipping, whose main callers
 * prove themselves by mTLS): undefined when none is set, else read and checked like readAuthConfig.
 */
export function readOptionalAuthConfig(env: Env): AuthConfig | undefined {
  const anySet = ["AUTH_DISABLED", "AUTH_JWKS_FILE", "AUTH_JWKS_URL", "AUTH_ISSUER"].some((name) => (env[name] ?? "") !== "");
  return anySet ? readAuthConfig(env) : undefined;
}

/** Reads an on/off switch ("on"/"off", also "true"/"false") or returns the default when unset. */
export function readSwitch(env: Env, name: string, fallback: boolean): boolean {
  const raw = readString(env, name, fallback ? "on" : "off");
  if (raw === "on" || raw === "true") return true;
  if (raw === "off" || raw === "false") return false;
  throw new ConfigError(`${name} must be "on" or "off", got "${raw}"`);
}

/** Reads the request, connection and time limits every service process applies (see server-limits.ts). */
export function readServerLimits(env: Env): ServerLimits {
  const d = defaultServerLimits;
  return {
    maxRequestBytes: readPositiveInt(env, "MAX_REQUEST_BYTES", d.maxRequestBytes),
    maxInFlightCalls: readPositiveInt(env, "MAX_IN_FLIGHT_CALLS", d.maxInFlightCalls),
    maxConcurrentStreams: readPositiveInt(env, "MAX_CONCURRENT_STREAMS", d.maxConcurrentStreams),
    maxConnections: readPositiveInt(env, "MAX_CONNECTIONS", d.maxConnections),
    idleTimeoutMs: readPositiveInt(env, "CONNECTION_IDLE_TIMEOUT_MS", d.idleTimeoutMs),
    headersTimeoutMs: readPositiveInt(env, "HEADERS_TIMEOUT_MS", d.headersTimeoutMs),
    requestTimeoutMs: readPositiveInt(env, "REQUEST_TIMEOUT_MS", d.requestTimeoutMs),
    shutdownGraceMs: readPositiveInt(env, "SHUTDOWN_GRACE_MS", d.shutdownGraceMs),
  };
}

/**
 * Reads CORS_ORIGINS, a comma-separated list of origins such as "https://shop.example.com", or returns
 * the default when unset. "*" and "null" are refused: with either, any page (a sandboxed iframe or a
 * file:// page sends "null") could call the API from a visitor's browser.
 */
export function readCorsOrigins(env: Env, fallback: readonly string[] = defaultCorsOrigins): readonly string[] {
  const raw = env.CORS_ORIGINS;
  if (raw === undefined || raw.trim() === "") return fallback;
  return raw.split(",").map((entry) => {
    const origin = entry.trim();
    if (origin === "*") throw new ConfigError('CORS_ORIGINS must list origins; "*" (any origin) is not allowed');
    if (origin === "null") throw new ConfigError('CORS_ORIGINS must list origins; "null" is not allowed (any sandboxed or file:// page sends it)');
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || !["http:", "https:"].includes(url.protocol) || url.origin !== origin) {
      throw new ConfigError(`CORS_ORIGINS must be comma-separated origins like https://shop.example.com (scheme, host, optional port, no path), got "${origin}"`);
    }
    return origin;
  });
}

/** Reads a base64 secret key of at least minBytes bytes; undefined when unset (the caller decides what that means). */
export function readSecretKey(env: Env, name: string, minBytes: number): Uint8Array | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const trimmed = raw.trim();
  const key = Buffer.from(trimmed, "base64");
  // Buffer.from skips characters outside the alphabet silently, so a round trip tells real base64 from noise.
  const canonical = key.toString("base64").replace(/=+$/, "") === trimmed.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (!canonical || key.length < minBytes) {
    throw new ConfigError(`${name} must be at least ${minBytes} bytes in base64 (e.g. \`openssl rand -base64 32\`), got ${canonical ? `${key.length} bytes` : "something that is not base64"}`);
  }
  return key;
}

const byteUnits: Record<string, number> = { "": 1, B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** Reads a size such as "1048576", "512KiB", "8MiB" or "1GiB" as bytes, or the default when unset; "off" returns undefined. */
export function readByteSize(env: Env, name: string, fallbackBytes: number | undefined): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallbackBytes;
  if (raw === "off") return undefined;
  const match = /^(\d+)(B|KiB|MiB|GiB|TiB)?$/.exec(raw);
  const bytes = match ? Number(match[1]) * byteUnits[match[2] ?? ""]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError(`${name} must be a size in bytes like 1048576, 512KiB, 8MiB or 1GiB (or "off"), got "${raw}"`);
  }
  return bytes;
}
