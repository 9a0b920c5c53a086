import type { FailedOutboxRow } from "../platform/db/index.js";
import type { DeadLetterDetail, DeadLetterRef, DeadLetterSummary } from "../platform/events/index.js";

// The dlq CLI's human-readable output: fixed-width tables and one block per dead letter.

const maxCell = 60;

/** A left-aligned table with a header row; cells longer than maxCell are cut with "…". */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cut = (cell: string) => (cell.length > maxCell ? `${cell.slice(0, maxCell - 1)}…` : cell).replace(/\s+/g, " ");
  const all = [header, ...rows].map((row) => row.map(cut));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n");
}

/** How a ref is written on the command line and in output: STREAM/SEQUENCE. */
export function refText(ref: DeadLetterRef): string {
  return `${ref.stream}/${ref.sequence}`;
}

/** The dead letters as a table. */
export function deadLetterTable(deadLetters: readonly DeadLetterSummary[]): string {
  if (deadLetters.length === 0) return "no dead letters";
  return table(
    ["DEAD LETTER", "CONSUMER", "EVENT TYPE", "EVENT ID", "DEAD-LETTERED", "DELIVERIES", "REASON"],
    deadLetters.map((d) => [refText(d), d.consumer, d.eventType, d.eventId, d.deadLetteredAt.toISOString(), String(d.deliveryCount), d.reason]),
  );
}

/** One dead letter in full: its fields, its headers and its payload. */
export function deadLetterBlock(d: DeadLetterDetail): string {
  const lines = [
    `dead letter       ${refText(d)}`,
    `consumer          ${d.consumer}`,
    `reason            ${d.reason}`,
    `original subject  ${d.originalSubject} (stream ${d.originalStream})`,
    `event             ${d.eventType} ${d.eventId}`,
    `deliveries        ${d.deliveryCount}`,
    `dead-lettered at  ${d.deadLetteredAt.toISOString()}`,
    "headers:",
    ...d.headers.map((h) => `  ${h.name}: ${h.value}`),
    `payload (${d.payloadBytes} bytes):`,
    d.payloadJson !== undefined ? JSON.stringify(JSON.parse(d.payloadJson), null, 2) : `  not decodable: ${d.payloadError}`,
  ];
  return lines.join("\n");
}

/** Failed outbox rows as a table. */
export function failedOutboxTable(rows: readonly FailedOutboxRow[]): string {
  if (rows.length === 0) return "no failed outbox events";
  return table(
    ["EVENT ID", "ORDER", "EVENT TYPE", "ATTEMPTS", "CREATED", "FAILED", "LAST ERROR"],
    rows.map((r) => [r.id, r.aggregateId, r.eventType, String(r.attempts), r.createdAt.toISOString(), r.failedAt.toISOString(), r.lastError]),
  );
}
