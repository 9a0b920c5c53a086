import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DeadLetterRefSchema,
  DeadLetterSchema,
  FailedOutboxEventSchema,
  GetDeadLetterResponseSchema,
  type DeadLetter,
  type DeadLetterRef as DeadLetterRefMessage,
  type FailedOutboxEvent,
  type GetDeadLetterResponse,
} from "../../../gen/admin/v1/admin_pb.js";
import type { FailedOutboxRow } from "../db/index.js";
import type { DeadLetterDetail, DeadLetterRef, DeadLetterSummary } from "../events/index.js";

/** A dead letter as admin.v1.DeadLetter. */
export function deadLetterToProto(d: DeadLetterSummary): DeadLetter {
  return create(DeadLetterSchema, {
    stream: d.stream,
    sequence: BigInt(d.sequence),
    consumer: d.consumer,
    reason: d.reason,
    originalSubject: d.originalSubject,
    originalStream: d.originalStream,
    deliveryCount: d.deliveryCount,
    eventId: d.eventId,
    eventType: d.eventType,
    deadLetteredAt: timestampFromDate(d.deadLetteredAt),
  });
}

/** A dead letter in full as admin.v1.GetDeadLetterResponse. */
export function deadLetterDetailToProto(d: DeadLetterDetail): GetDeadLetterResponse {
  return create(GetDeadLetterResponseSchema, {
    deadLetter: deadLetterToProto(d),
    headers: d.headers,
    payloadJson: d.payloadJson ?? "",
    payloadError: d.payloadError ?? "",
    payloadBytes: d.payloadBytes,
  });
}

/** A ref as admin.v1.DeadLetterRef. */
export function refToProto(ref: DeadLetterRef): DeadLetterRefMessage {
  return create(DeadLetterRefSchema, { stream: ref.stream, sequence: BigInt(ref.sequence) });
}

/** A failed outbox row as admin.v1.FailedOutboxEvent. */
export function failedOutboxEventToProto(row: FailedOutboxRow): FailedOutboxEvent {
  return create(FailedOutboxEventSchema, {
    id: row.id,
    aggregateId: row.aggregateId,
    eventType: row.eventType,
    attempts: row.attempts,
    lastError: row.lastError,
    createTime: timestampFromDate(row.createdAt),
    failTime: timestampFromDate(row.failedAt),
  });
}
