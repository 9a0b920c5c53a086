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
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  if (!match || Number(match[2]) > 65535) {
    throw new ConfigError(`${name} must be host:port, got "${raw}"`);
  }
  return raw;
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
