import type { ComposeFile, ComposeService } from "./compose-model.js";
import { hostPathMountedAt, serviceByImage } from "./compose-service-checks.js";

/** Where the postgres image runs its first-start scripts from. */
export const postgresInitDir = "/docker-entrypoint-initdb.d";

/** What an infrastructure image serves and on which port the app environments must point. */
export interface Infrastructure {
  kind: "postgres" | "nats" | "smtp" | "otlp";
  repository: string;
  port(service: ComposeService): number;
}

/** The infrastructure images the stack uses, by the kind of connection they accept. */
export const infrastructure: readonly Infrastructure[] = [
  { kind: "postgres", repository: "postgres", port: () => 5432 },
  { kind: "nats", repository: "nats", port: (service) => Number(flag(service.command, "-p", "--port") ?? 4222) },
  // Mailpit's SMTP listener (its web UI is on 8025).
  { kind: "smtp", repository: "axllent/mailpit", port: () => 1025 },
  // Jaeger's OTLP/HTTP receiver (its UI is on 16686, OTLP/gRPC on 4317, which ordermesh does not speak).
  { kind: "otlp", repository: "jaegertracing/all-in-one", port: () => 4318 },
];

/** PostgreSQL keeps its data on a volume and gets its init scripts; NATS runs JetStream on a volume. */
export function infrastructureProblems(compose: ComposeFile): string[] {
  const problems: string[] = [];
  const postgres = serviceByImage(compose, "postgres");
  if (postgres === undefined) {
    problems.push("no postgres service");
  } else {
    if (hostPathMountedAt(postgres, "/var/lib/postgresql/data") === undefined) {
      problems.push(`${postgres.name}: /var/lib/postgresql/data is not on a volume, so data dies with the container`);
    }
    if (hostPathMountedAt(postgres, postgresInitDir) === undefined) {
      problems.push(`${postgres.name}: nothing is mounted at ${postgresInitDir}, so the service databases are never created`);
    }
  }
  const nats = serviceByImage(compose, "nats");
  if (nats === undefined) return [...problems, "no nats service"];
  if (!nats.command.includes("-js") && !nats.command.includes("--jetstream")) problems.push(`${nats.name}: JetStream is off (add -js)`);
  const storeDir = flag(nats.command, "-sd", "--store_dir");
  if (storeDir === undefined) problems.push(`${nats.name}: no JetStream store dir (-sd)`);
  else if (hostPathMountedAt(nats, storeDir) === undefined) problems.push(`${nats.name}: JetStream store ${storeDir} is not on a volume`);
  return problems;
}

function flag(command: readonly string[], ...names: string[]): string | undefined {
  const index = command.findIndex((word) => names.includes(word));
  return index === -1 ? undefined : command[index + 1];
}
