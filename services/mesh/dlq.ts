import { parseArgs } from "node:util";
import { create, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import {
  DiscardDeadLettersResponseSchema,
  ListDeadLettersResponseSchema,
  ListFailedOutboxEventsResponseSchema,
  RedriveDeadLettersResponseSchema,
  RetryFailedOutboxEventsRequestSchema,
  RetryFailedOutboxEventsResponseSchema,
  DeadLetterFilterSchema,
  DeadLetterSelectionSchema,
  GetDeadLetterResponseSchema,
  type DeadLetterSelection as SelectionMessage,
} from "../../gen/admin/v1/admin_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { deadLetterDetailToProto, deadLetterError, deadLetterToProto, failedOutboxEventToProto, filterOf, refToProto, retrySelectionOf, selectionOf } from "../platform/admin/index.js";
import { failedOutbox, maxFailedOutboxRetries, redact, type FailedOutbox, type FailedOutboxRow } from "../platform/db/index.js";
import {
  connectNats,
  createDeadLetterStore,
  deadLetterStreamName,
  readEventFamilies,
  type DeadLetterRef,
  type DeadLetterSelection,
  type DeadLetterStore,
  type DeadLetterSummary,
} from "../platform/events/index.js";
import { ConfigError, createLogger, readUrl } from "../platform/process/index.js";
import type { FieldViolation } from "../platform/rpc/index.js";
import { outbox as ordersOutbox, outboxChannel as ordersChannel } from "../orders/db/schema.js";
import { outbox as shippingOutbox, outboxChannel as shippingChannel } from "../shipping/db/schema.js";
import { deadLetterBlock, deadLetterTable, failedOutboxTable, refText } from "./dlq-format.js";

// `npm run dlq -- <command>`: the operator's dead-letter and failed-outbox tool. It talks to NATS and
// the services' databases itself, through the same platform stores as AdminService, so it works while
// the services are down; it reads the variables the services read.
const usage = `usage: npm run dlq -- <command> [options]
  list [--stream S] [--consumer C] [--type T] [--limit N]   dead letters, oldest first (default limit 100)
  show STREAM/SEQ                                            one dead letter: headers and payload as JSON
  redrive (STREAM/SEQ... | --all | --stream S --consumer C --type T)
                                                             publish to the original subject again, then remove
  discard (STREAM/SEQ... | --all | --stream S --consumer C --type T)
                                                             remove for good
  outbox-list --service orders|shipping [--limit N]          outbox rows the relay gave up on
  outbox-retry --service orders|shipping (ID... | --all)     give them back to the relay
options: --json (the AdminService answer as protobuf JSON), -h/--help
env: NATS_URL, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, SHIPPING_EVENTS_STREAM, SHIPPING_EVENTS_SUBJECT_PREFIX,
     ORDERS_DATABASE_URL, SHIPPING_DATABASE_URL (outbox commands)
redrive, discard and outbox-retry act on at most 1000 per run and say how many are left.`;

/** A mistake in the command line: exit 2 with the usage. */
class UsageError extends Error {}

const env = process.env;
const json = (schema: DescMessage, message: MessageShape<DescMessage>) => toJsonString(schema, message, { prettySpaces: 2 });

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      stream: { type: "string" },
      consumer: { type: "string" },
      type: { type: "string" },
      limit: { type: "string" },
      all: { type: "boolean", default: false },
      service: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const [command, ...args] = positionals;
  const filterFlags = { stream: values.stream ?? "", consumer: values.consumer ?? "", eventType: values.type ?? "" };
  const families = readEventFamilies(env);
  const streams = Object.values(families).map((f) => deadLetterStreamName(f.stream));
  const natsUrl = readUrl(env, "NATS_URL", "nats://127.0.0.1:4222", ["nats", "tls"]);

  switch (command) {
    case "list": {
      noArgs(args, command);
      const violations: FieldViolation[] = [];
      const checkedFilter = filterOf(create(DeadLetterFilterSchema, filterFlags), "filter", streams, violations);
      if (violations.length > 0) throw new UsageError(violations.map((v) => `${flagOf(v.field)} ${v.description}`).join("; "));
      const limit = readLimit(values.limit, 100_000);
      await withStore(natsUrl, families, async (store) => {
        const found: DeadLetterSummary[] = [];
        let from: DeadLetterRef | undefined;
        do {
          const page = await store.list(checkedFilter, Math.min(1000, limit - found.length), from);
          found.push(...page.deadLetters);
          from = page.next;
        } while (from && found.length < limit);
        if (values.json) console.log(json(ListDeadLettersResponseSchema, create(ListDeadLettersResponseSchema, { deadLetters: found.map(deadLetterToProto) })));
        else console.log(deadLetterTable(found) + (from ? `\n(more: raise --limit)` : ""));
      });
      break;
    }
    case "show": {
      if (args.length !== 1) throw new UsageError("show takes one dead letter: STREAM/SEQ");
      const ref = parseRef(args[0]!, streams);
      await withStore(natsUrl, families, async (store) => {
        const found = await store.get(ref);
        if (!found) throw new Error(`no dead letter ${refText(ref)} (discarded, redriven or expired)`);
        console.log(values.json ? json(GetDeadLetterResponseSchema, deadLetterDetailToProto(found)) : deadLetterBlock(found));
      });
      break;
    }
    case "redrive":
    case "discard": {
      const selection = selectionOfArgs(args, values.all, filterFlags, streams);
      await withStore(natsUrl, families, async (store) => {
        const { done, remaining } = command === "redrive" ? await store.redrive(selection) : await store.discard(selection);
        if (values.json) {
          const schema = command === "redrive" ? RedriveDeadLettersResponseSchema : DiscardDeadLettersResponseSchema;
          const field = command === "redrive" ? "redriven" : "discarded";
          console.log(json(schema, create(schema, { [field]: done.map(refToProto), remaining })));
        } else {
          for (const ref of done) console.log(`${command === "redrive" ? "redriven" : "discarded"} ${refText(ref)}`);
          console.log(`${done.length} ${command === "redrive" ? "redriven" : "discarded"}, ${remaining} left${remaining > 0 ? " (run again)" : ""}`);
        }
      });
      break;
    }
    case "outbox-list": {
      noArgs(args, command);
      const limit = readLimit(values.limit, 100_000);
      await withOutbox(values.service, async (box) => {
        const rows: FailedOutboxRow[] = [];
        let after: bigint | undefined;
        do {
          const page = await box.list(Math.min(1000, limit - rows.length), after);
          rows.push(...page.rows);
          after = page.after;
        } while (after !== undefined && rows.length < limit);
        if (values.json) console.log(json(ListFailedOutboxEventsResponseSchema, create(ListFailedOutboxEventsResponseSchema, { events: rows.map(failedOutboxEventToProto) })));
        else console.log(failedOutboxTable(rows) + (after !== undefined ? `\n(more: raise --limit)` : ""));
      });
      break;
    }
    case "outbox-retry": {
      const choice = checkedRetry(args, values.all);
      await withOutbox(values.service, async (box) => {
        const { retried, remaining } = await box.retry(choice);
        if (values.json) console.log(json(RetryFailedOutboxEventsResponseSchema, create(RetryFailedOutboxEventsResponseSchema, { retried, remaining })));
        else {
          for (const id of retried) console.log(`retried ${id}`);
          console.log(`${retried.length} given back to the relay, ${remaining} failed left${remaining > 0 && choice.all ? " (run again)" : ""}`);
        }
      });
      break;
    }
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
} catch (err) {
  if (err instanceof UsageError || err instanceof ConfigError || (err instanceof Error && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"))) {
    console.error(`${err.message}\n\n${usage}`);
    process.exit(2);
  }
  const error = deadLetterError(err);
  console.error(error instanceof Error ? (error instanceof ConnectError ? error.rawMessage : error.message) : String(error));
  process.exit(1);
}

function noArgs(args: readonly string[], command: string): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments, got "${args.join(" ")}"`);
}

/** --limit: 1 to max; default 100. */
function readLimit(raw: string | undefined, max: number): number {
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new UsageError(`--limit must be a whole number from 1 to ${max}, got "${raw}"`);
  return n;
}

/** The command-line flag of a request field AdminService's checks named. */
function flagOf(field: string): string {
  const last = field.split(".").at(-1)!;
  return { stream: "--stream", consumer: "--consumer", event_type: "--type", matching: "the filter", all: "--all", selection: "the selection", ids: "the ids" }[last] ?? field;
}

/** STREAM/SEQ of one of the known dead-letter streams. */
function parseRef(arg: string, streams: readonly string[]): DeadLetterRef {
  const match = /^([^/\s]+)\/(\d+)$/.exec(arg);
  if (!match) throw new UsageError(`"${arg}" is not a dead letter: write STREAM/SEQ, e.g. ORDERS_DEADLETTER/12`);
  if (!streams.includes(match[1]!)) throw new UsageError(`${match[1]} is not a dead-letter stream of the mesh (${streams.join(", ")})`);
  const sequence = Number(match[2]);
  if (!Number.isSafeInteger(sequence) || sequence < 1) throw new UsageError(`"${arg}": the sequence must be 1 or more`);
  return { stream: match[1]!, sequence };
}

/** The selection of redrive and discard: refs, --all, or filter flags, exactly one kind, checked as AdminService checks it. */
function selectionOfArgs(args: readonly string[], all: boolean, filter: { stream: string; consumer: string; eventType: string }, streams: readonly string[]): DeadLetterSelection {
  const filtered = Object.values(filter).some((v) => v !== "");
  const kinds = [args.length > 0, all, filtered].filter(Boolean).length;
  if (kinds !== 1) throw new UsageError("name the dead letters (STREAM/SEQ...), or --all, or a filter (--stream, --consumer, --type): exactly one of them");
  let message: SelectionMessage;
  if (args.length > 0) {
    const refs = args.map((arg) => parseRef(arg, streams));
    message = create(DeadLetterSelectionSchema, { selection: { case: "refs", value: { refs: refs.map(refToProto) } } });
  } else if (all) message = create(DeadLetterSelectionSchema, { selection: { case: "all", value: true } });
  else message = create(DeadLetterSelectionSchema, { selection: { case: "matching", value: filter } });
  try {
    return selectionOf(message, streams);
  } catch (err) {
    throw err instanceof ConnectError ? new UsageError(err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => `${flagOf(v.field)}: ${v.description}`)).join("; ")) : err;
  }
}

/** outbox-retry's ids or --all, checked as AdminService checks them. */
function checkedRetry(args: readonly string[], all: boolean): { ids: string[]; all?: undefined } | { all: true } {
  if (args.length > maxFailedOutboxRetries) throw new UsageError(`outbox-retry takes at most ${maxFailedOutboxRetries} ids`);
  try {
    return retrySelectionOf(create(RetryFailedOutboxEventsRequestSchema, { ids: [...args], all }));
  } catch (err) {
    throw err instanceof ConnectError ? new UsageError(args.length === 0 && !all ? "name the event ids, or --all" : err.rawMessage) : err;
  }
}

/** Runs fn with the dead-letter store on NATS_URL, then closes the connection. */
async function withStore(url: string, families: ReturnType<typeof readEventFamilies>, fn: (store: DeadLetterStore) => Promise<void>): Promise<void> {
  const nc = await connectNats(url, createLogger("dlq", "silent"), "ordermesh-dlq").catch((err: unknown) => {
    throw new Error(`cannot reach NATS at ${url} (NATS_URL): ${err instanceof Error ? err.message : String(err)}`);
  });
  try {
    await fn(createDeadLetterStore({ jsm: await jetstreamManager(nc), families }));
  } finally {
    await nc.close();
  }
}

/** Runs fn with a service's failed outbox (--service orders|shipping, its *_DATABASE_URL), then closes the pool. */
async function withOutbox(service: string | undefined, fn: (box: FailedOutbox) => Promise<void>): Promise<void> {
  const services = {
    orders: { variable: "ORDERS_DATABASE_URL", table: ordersOutbox, channel: ordersChannel },
    shipping: { variable: "SHIPPING_DATABASE_URL", table: shippingOutbox, channel: shippingChannel },
  };
  if (service !== "orders" && service !== "shipping") throw new UsageError(`--service must be orders or shipping${service === undefined ? "" : `, got "${service}"`}`);
  const { variable, table, channel } = services[service];
  const url = readUrl(env, variable, `postgres://postgres@127.0.0.1:5432/${service}`, ["postgres", "postgresql"]);
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await fn(failedOutbox(drizzle(sql), table, channel)).catch((err: unknown) => {
      // drizzle wraps the driver's error ("Failed query: ..."); the cause says what is wrong.
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      throw new Error(`cannot use the ${service} database at ${redact(url)} (${variable}): ${cause instanceof Error ? cause.message : String(cause)}`);
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
