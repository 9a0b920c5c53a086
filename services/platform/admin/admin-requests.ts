import type {
  DeadLetterFilter as DeadLetterFilterMessage,
  DeadLetterRef as DeadLetterRefMessage,
  DeadLetterSelection as DeadLetterSelectionMessage,
  RetryFailedOutboxEventsRequest,
} from "../../../gen/admin/v1/admin_pb.js";
import { maxFailedOutboxRetries } from "../db/index.js";
import { maxDeadLettersPerCall, type DeadLetterFilter, type DeadLetterRef, type DeadLetterSelection } from "../events/index.js";
import { invalidArgument, type FieldViolation } from "../rpc/index.js";
import { isUuid } from "../validation/index.js";
import { parseDeadLetterPageToken, parseOutboxPageToken } from "./page-tokens.js";

/*
 * The admin requests checked and turned into the stores' terms; each function throws INVALID_ARGUMENT
 * naming every bad field. `streams` are the dead-letter streams the answering process knows.
 */

/** A page of at most this many (0 means defaultPageSize, more is lowered to it: AIP-158). */
export const maxPageSize = 1000;

/** page_size 0. */
export const defaultPageSize = 100;

// Durable names are NATS subject tokens; event types are protobuf full names. Both are short.
const maxNameLength = 256;
const consumerName = /^[^\s.*>]+$/;
const eventTypeName = /^[^\s]+$/;

/** page_size: 0 is the default, larger than maxPageSize is lowered, negative is refused. */
export function pageSizeOf(pageSize: number, violations: FieldViolation[]): number {
  if (pageSize < 0) violations.push({ field: "page_size", description: "must not be negative" });
  return pageSize <= 0 ? defaultPageSize : Math.min(pageSize, maxPageSize);
}

/** A DeadLetterFilter message as the store's filter. */
export function filterOf(filter: DeadLetterFilterMessage | undefined, field: string, streams: readonly string[], violations: FieldViolation[]): DeadLetterFilter {
  const out: DeadLetterFilter = {};
  if (!filter) return out;
  if (filter.stream !== "") {
    if (streams.includes(filter.stream)) out.stream = filter.stream;
    else violations.push({ field: `${field}.stream`, description: `must be one of ${streams.join(", ")}` });
  }
  if (filter.consumer !== "") {
    if (filter.consumer.length <= maxNameLength && consumerName.test(filter.consumer)) out.consumer = filter.consumer;
    else violations.push({ field: `${field}.consumer`, description: `must be a durable consumer name (up to ${maxNameLength} characters, no spaces, ".", "*" or ">")` });
  }
  if (filter.eventType !== "") {
    if (filter.eventType.length <= maxNameLength && eventTypeName.test(filter.eventType)) out.eventType = filter.eventType;
    else violations.push({ field: `${field}.event_type`, description: `must be a CloudEvents type such as orders.v1.OrderCreated (up to ${maxNameLength} characters, no spaces)` });
  }
  return out;
}

/** A DeadLetterRef message as the store's ref. */
export function refOf(ref: DeadLetterRefMessage | undefined, field: string, streams: readonly string[], violations: FieldViolation[]): DeadLetterRef {
  if (!ref) {
    violations.push({ field, description: "is required" });
    return { stream: "", sequence: 0 };
  }
  if (!streams.includes(ref.stream)) violations.push({ field: `${field}.stream`, description: `must be one of ${streams.join(", ")}` });
  if (ref.sequence < 1n || ref.sequence > BigInt(Number.MAX_SAFE_INTEGER)) violations.push({ field: `${field}.sequence`, description: "must be a stream sequence (1 or more)" });
  return { stream: ref.stream, sequence: Number(ref.sequence) };
}

/** A page token of ListDeadLetters: a position in one of the known streams. */
export function deadLetterCursorOf(token: string, streams: readonly string[], violations: FieldViolation[]): DeadLetterRef | undefined {
  if (token === "") return undefined;
  const cursor = parseDeadLetterPageToken(token);
  if (!cursor || !streams.includes(cursor.stream)) {
    violations.push({ field: "page_token", description: "is not a page token of ListDeadLetters" });
    return undefined;
  }
  return cursor;
}

/** A page token of ListFailedOutboxEvents. */
export function outboxCursorOf(token: string, violations: FieldViolation[]): bigint | undefined {
  if (token === "") return undefined;
  const after = parseOutboxPageToken(token);
  if (after === undefined) violations.push({ field: "page_token", description: "is not a page token of ListFailedOutboxEvents" });
  return after;
}

/** A DeadLetterSelection message as the store's selection (exactly one of refs, matching, all). */
export function selectionOf(selection: DeadLetterSelectionMessage | undefined, streams: readonly string[]): DeadLetterSelection {
  const violations: FieldViolation[] = [];
  const choice = selection?.selection;
  let out: DeadLetterSelection = { refs: [] };
  switch (choice?.case) {
    case "refs": {
      const refs = choice.value.refs;
      if (refs.length === 0 || refs.length > maxDeadLettersPerCall) {
        violations.push({ field: "selection.refs.refs", description: `must hold 1 to ${maxDeadLettersPerCall} dead letters, got ${refs.length}` });
        break;
      }
      out = { refs: refs.map((ref, i) => refOf(ref, `selection.refs.refs[${i}]`, streams, violations)) };
      break;
    }
    case "matching": {
      const filter = filterOf(choice.value, "selection.matching", streams, violations);
      if (violations.length === 0 && !filter.stream && !filter.consumer && !filter.eventType) {
        violations.push({ field: "selection.matching", description: "an empty filter matches every dead letter: set all instead" });
      }
      out = { matching: filter };
      break;
    }
    case "all":
      if (!choice.value) violations.push({ field: "selection.all", description: "must be true when set" });
      out = { matching: {} };
      break;
    default:
      violations.push({ field: "selection", description: "set exactly one of refs, matching or all" });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return out;
}

/** RetryFailedOutboxEvents' choice: ids (1 to 1000 UUIDs) or all, exactly one. */
export function retrySelectionOf(req: RetryFailedOutboxEventsRequest): { ids: string[] } | { all: true } {
  const violations: FieldViolation[] = [];
  if (req.all === (req.ids.length > 0)) {
    violations.push({ field: req.all ? "all" : "ids", description: "set exactly one of ids and all" });
  } else if (req.ids.length > maxFailedOutboxRetries) {
    violations.push({ field: "ids", description: `must hold 1 to ${maxFailedOutboxRetries} ids, got ${req.ids.length}` });
  } else {
    req.ids.forEach((id, i) => {
      if (!isUuid(id)) violations.push({ field: `ids[${i}]`, description: "must be an event id (a UUID)" });
    });
  }
  if (violations.length > 0) throw invalidArgument(violations);
  return req.all ? { all: true } : { ids: req.ids };
}
