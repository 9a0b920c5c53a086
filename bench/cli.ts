import { parseArgs as parseArgv } from "node:util";

/** Scenarios that --only can select. */
export const scenarioNames = ["telemetry", "broker", "getorder", "createorder", "auth", "flow", "saturation", "soak"] as const;

/** A scenario name. */
export type ScenarioName = (typeof scenarioNames)[number];

/** Scenarios that run on the one mesh the benchmark starts (or is given); the others bring their own. */
export const sharedMeshScenarios: readonly ScenarioName[] = ["getorder", "createorder", "auth", "flow", "saturation", "soak"];

/** What the command line asked for. */
export interface BenchArgs {
  quick: boolean;
  only: Set<ScenarioName>;
  postgresUrl: string;
  natsUrl: string;
  /** host:port of a running mesh's OrderService; the benchmark starts its own mesh when absent. */
  ordersAddr: string | undefined;
  stream: string;
  subjectPrefix: string;
  shippingDatabaseUrl: string | undefined;
  notifierDatabaseUrl: string | undefined;
  /** Service pids of a running mesh, for CPU and RSS (e.g. orders=123,shipping=456). */
  pids: Record<string, number>;
  /** Services of our own mesh to run under node --cpu-prof. */
  profile: string[];
  /** Event-flow arrival rates (orders/s) instead of the plan's. */
  rates: number[] | undefined;
  /** Saturation steps (orders/s, rising) instead of the plan's. */
  steps: number[] | undefined;
}

export const usage = `usage: npm run bench -- [--quick] [--only telemetry,broker,getorder,createorder,auth,flow,saturation,soak] [--rates 300,500] [--steps 400,500,600] [--profile orders,shipping,notifier]
  running mesh: --orders 127.0.0.1:50051 [--nats nats://127.0.0.1:4222 --stream ORDERS --subject-prefix orders
                --shipping-db postgres://... --notifier-db postgres://... --pids orders=123,shipping=456,notifier=789]
  --postgres postgres://postgres@127.0.0.1:5432/postgres  (server for fresh databases and pgbench)`;

/** Parses argv (without node and script) with node:util's parseArgs; throws with the usage on anything unknown. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  let values;
  try {
    ({ values } = parseArgv({
      args: [...argv],
      options: {
        quick: { type: "boolean" },
        only: { type: "string" },
        postgres: { type: "string" },
        nats: { type: "string" },
        orders: { type: "string" },
        stream: { type: "string" },
        "subject-prefix": { type: "string" },
        "shipping-db": { type: "string" },
        "notifier-db": { type: "string" },
        pids: { type: "string" },
        profile: { type: "string" },
        rates: { type: "string" },
        steps: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
  if (values.help) throw new Error(usage);
  return {
    quick: values.quick ?? false,
    only: values.only === undefined ? new Set(scenarioNames) : scenarios(values.only),
    postgresUrl: localUrl(values.postgres ?? "postgres://postgres@127.0.0.1:5432/postgres"),
    natsUrl: localUrl(values.nats ?? "nats://127.0.0.1:4222"),
    ordersAddr: values.orders === undefined ? undefined : localHostPort(values.orders),
    stream: values.stream ?? "ORDERS",
    subjectPrefix: values["subject-prefix"] ?? "orders",
    shippingDatabaseUrl: values["shipping-db"] === undefined ? undefined : localUrl(values["shipping-db"]),
    notifierDatabaseUrl: values["notifier-db"] === undefined ? undefined : localUrl(values["notifier-db"]),
    pids: values.pids === undefined ? {} : pids(values.pids),
    profile: values.profile?.split(",") ?? [],
    rates: values.rates === undefined ? undefined : positiveNumbers("--rates", values.rates),
    steps: values.steps === undefined ? undefined : risingSteps(values.steps),
  };
}

function scenarios(raw: string): Set<ScenarioName> {
  const names = raw.toLowerCase().split(",");
  for (const n of names) if (!(scenarioNames as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n}\n${usage}`);
  return new Set(names as ScenarioName[]);
}

function pids(raw: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const pair of raw.split(",")) {
    const [name, pid] = pair.split("=");
    if (!name || !Number.isInteger(Number(pid))) throw new Error(`bad --pids entry ${pair}\n${usage}`);
    found[name] = Number(pid);
  }
  return found;
}

function risingSteps(raw: string): number[] {
  const steps = positiveNumbers("--steps", raw);
  if (steps.some((r, i) => i > 0 && r <= steps[i - 1]!)) throw new Error(`--steps must rise\n${usage}`);
  return steps;
}

function positiveNumbers(flag: string, raw: string): number[] {
  const numbers = raw.split(",").map(Number);
  if (numbers.some((r) => !(r > 0))) throw new Error(`${flag} needs positive numbers\n${usage}`);
  return numbers;
}

// The benchmark generates heavy load: it only ever talks to this machine.
const localHosts = new Set(["127.0.0.1", "localhost", "[::1]"]);

function localUrl(url: string): string {
  if (!localHosts.has(new URL(url).hostname)) throw new Error(`${url}: the benchmark only targets 127.0.0.1`);
  return url;
}

function localHostPort(addr: string): string {
  return new URL(localUrl(`http://${addr}`)).host;
}
