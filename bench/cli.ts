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

/** Parses argv (without node and script); throws with the usage on anything unknown. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    quick: false,
    only: new Set(scenarioNames),
    postgresUrl: "postgres://postgres@127.0.0.1:5432/postgres",
    natsUrl: "nats://127.0.0.1:4222",
    ordersAddr: undefined,
    stream: "ORDERS",
    subjectPrefix: "orders",
    shippingDatabaseUrl: undefined,
    notifierDatabaseUrl: undefined,
    pids: {},
    profile: [],
    rates: undefined,
    steps: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${usage}`);
      return v;
    };
    switch (flag) {
      case "--quick": args.quick = true; break;
      case "--only": {
        const names = value().toLowerCase().split(",");
        for (const n of names) if (!(scenarioNames as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n}\n${usage}`);
        args.only = new Set(names as ScenarioName[]);
        break;
      }
      case "--postgres": args.postgresUrl = localUrl(value()); break;
      case "--nats": args.natsUrl = localUrl(value()); break;
      case "--orders": args.ordersAddr = localHostPort(value()); break;
      case "--stream": args.stream = value(); break;
      case "--subject-prefix": args.subjectPrefix = value(); break;
      case "--shipping-db": args.shippingDatabaseUrl = localUrl(value()); break;
      case "--notifier-db": args.notifierDatabaseUrl = localUrl(value()); break;
      case "--pids":
        for (const pair of value().split(",")) {
          const [name, pid] = pair.split("=");
          if (!name || !Number.isInteger(Number(pid))) throw new Error(`bad --pids entry ${pair}\n${usage}`);
          args.pids[name] = Number(pid);
        }
        break;
      case "--profile": args.profile = value().split(","); break;
      case "--rates":
        args.rates = positiveNumbers(flag, value());
        break;
      case "--steps": {
        const steps = positiveNumbers(flag, value());
        if (steps.some((r, i) => i > 0 && r <= steps[i - 1]!)) throw new Error(`--steps must rise\n${usage}`);
        args.steps = steps;
        break;
      }
      case "--help": throw new Error(usage);
      default: throw new Error(`unknown argument ${flag}\n${usage}`);
    }
  }
  return args;
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
