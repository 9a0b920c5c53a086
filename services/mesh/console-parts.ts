import * as grpc from "@grpc/grpc-js";
import { redact } from "../platform/db/index.js";
import { probeHealth } from "../platform/rpc/index.js";
import type { ConsolePart } from "./console-api.js";
import { addressOf, probeNatsServer, probePostgresServer } from "./dependency-probe.js";
import { readServiceNumbers } from "./service-numbers.js";
import type { ServiceEndpoints } from "./service-runner.js";

// A console refresh waits for the slowest part; a sick one answers "error: ..." after this.
const probeTimeoutMs = 2000;

/** One instance of a service (e.g. shipping-2): health over its TLS gRPC port (verified against the dev CA), numbers from its /metrics. */
export function servicePart(name: string, host: string, endpoints: ServiceEndpoints, ca: Buffer): ConsolePart {
  const grpcAddress = `${host}:${endpoints.grpcPort}`;
  const metricsUrl = endpoints.metricsPort === undefined ? undefined : `http://${host}:${endpoints.metricsPort}/metrics`;
  const credentials = grpc.credentials.createSsl(ca);
  return {
    name,
    kind: "service",
    addresses: {
      grpc: grpcAddress,
      ...(endpoints.webPort === undefined ? {} : { web: `http://${host}:${endpoints.webPort}` }),
      ...(metricsUrl ? { metrics: metricsUrl } : {}),
    },
    health: () => probeHealth(grpcAddress, "", probeTimeoutMs, credentials),
    numbers: metricsUrl ? () => readServiceNumbers(metricsUrl, { timeoutMs: probeTimeoutMs }) : undefined,
  };
}

/** A NATS server the services use (the launcher's own, a node of its cluster, or NATS_URL's). */
export function natsPart(url: string, name = "nats"): ConsolePart {
  const address = addressOf(url, 4222);
  return { name, kind: "dependency", addresses: { client: redact(url) }, health: () => probeNatsServer(address, probeTimeoutMs) };
}

/** The PostgreSQL servers of the services' databases, one part per distinct server. */
export function postgresParts(databaseUrls: readonly string[]): ConsolePart[] {
  const servers = new Map<string, { host: string; port: number }>();
  for (const url of databaseUrls) {
    const address = addressOf(url, 5432);
    servers.set(`${address.host}:${address.port}`, address);
  }
  return [...servers].map(([server, address], i) => ({
    name: servers.size === 1 ? "postgres" : `postgres ${i + 1}`,
    kind: "dependency" as const,
    addresses: { server },
    health: () => probePostgresServer(address, probeTimeoutMs),
  }));
}
