import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { JetStreamApiError } from "@nats-io/jetstream";
import {
  AdminService,
  DiscardDeadLettersResponseSchema,
  ListDeadLettersResponseSchema,
  ListFailedOutboxEventsResponseSchema,
  RedriveDeadLettersResponseSchema,
  RetryFailedOutboxEventsResponseSchema,
} from "../../../gen/admin/v1/admin_pb.js";
import type { FailedOutbox } from "../db/index.js";
import { DeadLetterNotFoundError, DeadLetterNotRedrivableError, isNatsUnavailable, UnknownDeadLetterStreamError, type DeadLetterStore } from "../events/index.js";
import { invalidArgument, type FieldViolation } from "../rpc/index.js";
import { deadLetterDetailToProto, deadLetterToProto, failedOutboxEventToProto, refToProto } from "./admin-mapping.js";
import { deadLetterCursorOf, filterOf, outboxCursorOf, pageSizeOf, refOf, retrySelectionOf, selectionOf } from "./admin-requests.js";
import { deadLetterPageToken, outboxPageToken } from "./page-tokens.js";

/** What the admin service acts on. */
export interface AdminServiceOptions {
  /**
   * The mesh's dead letters on the process's NATS; undefined while it is not connected (the RPCs
   * answer UNAVAILABLE instead of waiting for a request timeout).
   */
  deadLetters(): DeadLetterStore | undefined;
  /** The answering service's own outbox. */
  outbox: FailedOutbox;
}

/**
 * admin.v1.AdminService (see proto/admin/v1/admin.proto): dead letters through the platform's
 * dead-letter store, failed outbox rows through the service's failed outbox. Bind it with the
 * "admin-token" access policy.
 */
export function createAdminService(options: AdminServiceOptions): ServiceImpl<typeof AdminService> {
  const store = (): DeadLetterStore => {
    const found = options.deadLetters();
    if (!found) throw new ConnectError("not connected to NATS: dead letters cannot be read now", Code.Unavailable);
    return found;
  };
  const checked = <T>(violations: FieldViolation[], value: T): T => {
    if (violations.length > 0) throw invalidArgument(violations);
    return value;
  };

  return {
    async listDeadLetters(req) {
      const s = store();
      const violations: FieldViolation[] = [];
      const filter = filterOf(req.filter, "filter", s.streams, violations);
      const pageSize = pageSizeOf(req.pageSize, violations);
      const from = deadLetterCursorOf(req.pageToken, s.streams, violations);
      checked(violations, undefined);
      if (from && filter.stream && from.stream !== filter.stream) throw invalidArgument([{ field: "page_token", description: "belongs to another filter" }]);
      const page = await dead(() => s.list(filter, pageSize, from));
      return create(ListDeadLettersResponseSchema, {
        deadLetters: page.deadLetters.map(deadLetterToProto),
        nextPageToken: page.next ? deadLetterPageToken(page.next) : "",
      });
    },

    async getDeadLetter(req) {
      const s = store();
      const violations: FieldViolation[] = [];
      const ref = checked(violations, refOf(req.ref, "ref", s.streams, violations));
      const found = await dead(() => s.get(ref));
      if (!found) throw new ConnectError(`no dead letter ${ref.stream}/${ref.sequence} (discarded, redriven or expired)`, Code.NotFound);
      return deadLetterDetailToProto(found);
    },

    async redriveDeadLetters(req) {
      const s = store();
      const selection = selectionOf(req.selection, s.streams);
      const { done, remaining } = await dead(() => s.redrive(selection));
      return create(RedriveDeadLettersResponseSchema, { redriven: done.map(refToProto), remaining });
    },

    async discardDeadLetters(req) {
      const s = store();
      const selection = selectionOf(req.selection, s.streams);
      const { done, remaining } = await dead(() => s.discard(selection));
      return create(DiscardDeadLettersResponseSchema, { discarded: done.map(refToProto), remaining });
    },

    async listFailedOutboxEvents(req) {
      const violations: FieldViolation[] = [];
      const pageSize = pageSizeOf(req.pageSize, violations);
      const after = checked(violations, outboxCursorOf(req.pageToken, violations));
      const page = await options.outbox.list(pageSize, after);
      return create(ListFailedOutboxEventsResponseSchema, {
        events: page.rows.map(failedOutboxEventToProto),
        nextPageToken: page.after === undefined ? "" : outboxPageToken(page.after),
      });
    },

    async retryFailedOutboxEvents(req) {
      const { retried, remaining } = await options.outbox.retry(retrySelectionOf(req));
      return create(RetryFailedOutboxEventsResponseSchema, { retried, remaining });
    },
  };
}

/** Runs a dead-letter store call, turning its errors into the RPC's codes. */
async function dead<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw deadLetterError(err);
  }
}

/** The status of a dead-letter store error: NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT or UNAVAILABLE. */
export function deadLetterError(err: unknown): unknown {
  if (err instanceof DeadLetterNotFoundError) return new ConnectError(err.message, Code.NotFound);
  if (err instanceof DeadLetterNotRedrivableError) return new ConnectError(`${err.message}; discard it instead`, Code.FailedPrecondition);
  if (err instanceof UnknownDeadLetterStreamError) return new ConnectError(err.message, Code.InvalidArgument);
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (isNatsUnavailable(e)) return new ConnectError(`NATS is unavailable: ${err instanceof Error ? err.message : String(err)}`, Code.Unavailable);
    // JetStream answered no (the stream is full, the subject is taken by another stream): an operator must act first.
    if (e instanceof JetStreamApiError) return new ConnectError(`JetStream refused: ${err instanceof Error ? err.message : String(err)}`, Code.FailedPrecondition);
  }
  return err;
}
