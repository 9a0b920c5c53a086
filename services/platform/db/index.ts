// Public surface of platform/db: PostgreSQL access: opening a service's database (pool, migrations, health ping).
export { databaseLocation, defaultStatementTimeoutMs, openDatabase, projectPath, redact } from "./database.js";
export { tracedStore } from "./traced-store.js";
export { runWithQuerySignal } from "./query-cancellation.js";
export type { Database, DatabaseLocation } from "./database.js";
export { insertOutboxEvents, outboxTable, tracedOutboxWrite } from "./outbox-table.js";
export type { OutboxEntry, OutboxTable, OutboxWriter } from "./outbox-table.js";
export { failedOutbox, maxFailedOutboxRetries } from "./failed-outbox.js";
export type { FailedOutbox, FailedOutboxDatabase, FailedOutboxPage, FailedOutboxRetry, FailedOutboxRow } from "./failed-outbox.js";
