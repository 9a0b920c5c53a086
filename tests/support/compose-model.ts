import { parseDocument } from "yaml";

// docker-compose.yml accepts several spellings of the same thing (environment as a list or a map,
// depends_on as a list or a map, ports as strings or objects). The checks read one normalized shape.

/** A compose service reduced to what the checks need. */
export interface ComposeService {
  name: string;
  image: string | undefined;
  build: unknown;
  command: string[];
  environment: Record<string, string>;
  /** Target service -> condition ("service_started" when the short list form is used). */
  dependsOn: Record<string, string>;
  healthcheck: string[] | undefined;
  ports: { host: number; container: number }[];
  volumes: { source: string; target: string }[];
  /** The restart policy; "no" marks a one-shot service (it runs, exits 0, and others wait for that). */
  restart: string | undefined;
}

/** A parsed compose file: services by name and the named volumes it declares. */
export interface ComposeFile {
  services: Map<string, ComposeService>;
  volumes: string[];
}

/** Parses docker-compose.yml text (YAML merge keys on, as Compose has them). */
export function parseComposeYaml(source: string): unknown {
  const document = parseDocument(source, { merge: true, uniqueKeys: true });
  if (document.errors.length > 0) throw new Error(document.errors.map((error) => error.message).join("\n"));
  return document.toJS();
}

/** Normalizes a parsed compose document; throws when its overall shape is not a compose file. */
export function readCompose(document: unknown): ComposeFile {
  const root = record(document, "compose file");
  const services = new Map<string, ComposeService>();
  for (const [name, raw] of Object.entries(record(root.services, "services"))) {
    const service = record(raw, `services.${name}`);
    services.set(name, {
      name,
      image: typeof service.image === "string" ? service.image : undefined,
      build: service.build,
      command: words(service.command),
      environment: environment(service.environment),
      dependsOn: dependsOn(service.depends_on),
      healthcheck: healthcheck(service.healthcheck),
      ports: (Array.isArray(service.ports) ? service.ports : []).map(port),
      volumes: (Array.isArray(service.volumes) ? service.volumes : []).map(volume),
      restart: typeof service.restart === "string" ? service.restart : undefined,
    });
  }
  return { services, volumes: Object.keys(record(root.volumes ?? {}, "volumes")) };
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what} must be a mapping`);
  return value as Record<string, unknown>;
}

function words(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? value.split(/\s+/).filter(Boolean) : [];
}

function environment(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    return Object.fromEntries(value.map(String).map((entry) => [entry.split("=")[0] ?? "", entry.slice(entry.indexOf("=") + 1)]));
  }
  if (value === undefined || value === null) return {};
  return Object.fromEntries(Object.entries(record(value, "environment")).map(([key, v]) => [key, v === null ? "" : String(v)]));
}

function dependsOn(value: unknown): Record<string, string> {
  if (Array.isArray(value)) return Object.fromEntries(value.map((name) => [String(name), "service_started"]));
  if (value === undefined || value === null) return {};
  return Object.fromEntries(
    Object.entries(record(value, "depends_on")).map(([name, spec]) => {
      const condition = typeof spec === "object" && spec !== null ? (spec as { condition?: unknown }).condition : undefined;
      return [name, typeof condition === "string" ? condition : "service_started"];
    }),
  );
}

function healthcheck(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const spec = record(value, "healthcheck");
  if (spec.disable === true) return undefined;
  const test = spec.test;
  if (typeof test === "string") return ["CMD-SHELL", test];
  return Array.isArray(test) && test.length > 0 && test[0] !== "NONE" ? test.map(String) : undefined;
}

// "127.0.0.1:8080:8080", "8080:8080", "8080" or the long form { target, published }.
function port(value: unknown): { host: number; container: number } {
  if (typeof value === "object" && value !== null) {
    const spec = value as { target?: unknown; published?: unknown };
    return { host: Number(spec.published ?? spec.target), container: Number(spec.target) };
  }
  const parts = String(value).split("/")[0]?.split(":") ?? [];
  const container = Number(parts.at(-1));
  return { host: parts.length >= 2 ? Number(parts.at(-2)) : container, container };
}

// "source:target[:mode]" or the long form { source, target }.
function volume(value: unknown): { source: string; target: string } {
  if (typeof value === "object" && value !== null) {
    const spec = value as { source?: unknown; target?: unknown };
    return { source: String(spec.source ?? ""), target: String(spec.target ?? "") };
  }
  const [source = "", target = ""] = String(value).split(":");
  return { source, target };
}
