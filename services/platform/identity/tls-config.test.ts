import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../process/config.js";
import { isLoopback, loadTlsConfig, warnIfPlaintextExposed, type TlsConfig } from "./tls-config.js";

const files: Record<string, string> = {
  "/tls/orders.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
  "/tls/orders.key": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
  "/tls/ca.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
};
const readFile = (path: string) => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
  return Buffer.from(text);
};
const load = (env: Record<string, string>) => loadTlsConfig(env, readFile);

describe("loadTlsConfig", () => {
  it("is plaintext by default and reads the three files when given", () => {
    expect(load({})).toEqual({ identity: undefined, ca: undefined, webPlaintext: false });
    const tls = load({ TLS_CERT_FILE: "/tls/orders.crt", TLS_KEY_FILE: "/tls/orders.key", TLS_CA_FILE: "/tls/ca.crt", WEB_TLS: "off" });
    expect(tls.identity?.cert.toString()).toContain("BEGIN CERTIFICATE");
    expect(tls.identity?.key.toString()).toContain("BEGIN PRIVATE KEY");
    expect(tls.ca?.toString()).toContain("BEGIN CERTIFICATE");
    expect(tls.webPlaintext).toBe(true);
  });

  it.each([
    [{ TLS_CERT_FILE: "/tls/orders.crt" }, /TLS_KEY_FILE is not set/],
    [{ TLS_KEY_FILE: "/tls/orders.key" }, /TLS_CERT_FILE is not set/],
    [{ TLS_CA_FILE: "/tls/missing.crt" }, /TLS_CA_FILE cannot be read: ENOENT for "\/tls\/missing.crt"/],
    // Swapped files fail at start, not at the first handshake.
    [{ TLS_CERT_FILE: "/tls/orders.key", TLS_KEY_FILE: "/tls/orders.crt" }, /TLS_CERT_FILE must be a PEM file with a CERTIFICATE block/],
    [{ WEB_TLS: "maybe" }, /WEB_TLS must be "on" or "off", got "maybe"/],
  ])("refuses %j naming the variable", (env, message) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(message);
  });
});

describe("plaintext outside loopback", () => {
  const warnings = (host: string, tls: TlsConfig, hasWebPort = true) => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    warnIfPlaintextExposed(logger, host, tls, hasWebPort);
    return lines;
  };
  const plain: TlsConfig = { identity: undefined, ca: undefined };
  const secure: TlsConfig = { identity: { cert: Buffer.from(""), key: Buffer.from("") }, ca: undefined };

  it("tells loopback addresses from the others", () => {
    expect(["127.0.0.1", "127.8.0.1", "localhost", "::1", "[::1]"].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "::", "10.0.0.5", "orders", "128.0.0.1"].some(isLoopback)).toBe(false);
  });

  it("is logged as a warning on a non-loopback address, also when only the web port stays plaintext", () => {
    expect(warnings("0.0.0.0", plain).join("")).toContain("PLAINTEXT on non-loopback 0.0.0.0");
    expect(warnings("0.0.0.0", { ...secure, webPlaintext: true }).join("")).toContain('"webTls":false');
    expect(warnings("0.0.0.0", { ...secure, webPlaintext: true }, false)).toEqual([]);
    expect(warnings("0.0.0.0", secure)).toEqual([]);
    expect(warnings("127.0.0.1", plain)).toEqual([]);
  });
});
