import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { loadTlsConfig } from "../identity/tls-config.js";
import { grpcChannelCredentials } from "../identity/tls-credentials.js";

/** A grpc.health.v1 status as the server reports it, or the failure to get one. */
export type ProbeResult = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN" | `error: ${string}`;

type HealthClient = grpc.Client & {
  Check(req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};

/** Calls grpc.health.v1.Health/Check once with a deadline and returns the reported status; plaintext unless given TLS credentials. */
export function probeHealth(address: string, service = "", timeoutMs = 3000, credentials = grpc.credentials.createInsecure()): Promise<ProbeResult> {
  const Client = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Client(address, credentials) as unknown as HealthClient;
  return new Promise<ProbeResult>((resolve) => {
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err) resolve(`error: ${grpc.status[err.code] ?? err.code} ${err.details}`);
      else resolve((res?.status ?? "UNKNOWN") as ProbeResult);
    });
  });
}

// CLI for docker-compose healthchecks: `node dist/services/platform/rpc/health-probe.js host:port [service]`
// exits 0 iff SERVING. It reads the service's own TLS_CA_FILE (and TLS_CERT_FILE/TLS_KEY_FILE), so a
// container's healthcheck speaks TLS exactly when its service does. The check below keeps importing the module (tests) free of side effects.
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  const usage = "usage: health-probe <host:port> [service]\n";
  let positionals: string[] = [];
  try {
    ({ positionals } = parseArgs({ args: process.argv.slice(2), options: {}, strict: true, allowPositionals: true }));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
    process.exit(2);
  }
  const [address, service = "", ...extra] = positionals;
  if (!address || extra.length > 0) {
    process.stderr.write(usage);
    process.exit(2);
  }
  const result = await probeHealth(address, service, Number(process.env.HEALTH_PROBE_TIMEOUT_MS ?? 3000), grpcChannelCredentials(loadTlsConfig()));
  process.stdout.write(`${address}${service ? ` ${service}` : ""}: ${result}\n`);
  process.exit(result === "SERVING" ? 0 : 1);
}
