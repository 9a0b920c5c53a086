import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { startPrivateNatsServer, type PrivateNatsServer } from "../../tests/support/nats-server.js";
import { publishOrderEvent, sampleEvent } from "../../tests/support/order-events.js";
import { startSmtpSink, type SmtpSink } from "../../tests/support/smtp-sink.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { probeHealth } from "../platform/rpc/index.js";
import { eventMessageId } from "./mailer.js";

// The notifier as a process, against its own nats-server (so the broker can be killed) and a fresh database.
let nats: PrivateNatsServer;
let f: JetStreamFixture;
let db: TestDatabase;
let smtp: SmtpSink;
let emailDir: string;
/** The compiled notifier and the gRPC (health/reflection) port it logged; it starts with NOTIFIER_PORT=0. */
type NotifierProcess = ServiceProcess & { grpcPort: number };
// Every process started, so afterEach kills them even when a test fails before its port is known.
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  [nats, db, smtp, emailDir] = await Promise.all([
    startPrivateNatsServer(),
    createTestDatabase("notifier_proc"),
    startSmtpSink(),
    mkdtemp(join(tmpdir(), "notifier-emails-")),
  ]);
  f = await createJetStreamFixture(nats.url);
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop("SIGKILL")));
});
afterAll(async () => {
  await f?.close();
  await Promise.all([nats?.stop(), smtp?.stop(), db?.drop(), emailDir && rm(emailDir, { recursive: true, force: true })]);
});

async function startNotifier(): Promise<NotifierProcess> {
  const p = startServiceProcess("services/notifier/main.js", {
    NOTIFIER_PORT: "0",
    NOTIFIER_DATABASE_URL: db.url,
    NATS_URL: nats.url,
    EVENTS_STREAM: f.stream,
    EVENTS_SUBJECT_PREFIX: f.subjectPrefix,
    SMTP_URL: smtp.url,
    EMAIL_DIR: emailDir,
    // Short AckWait so the messages a killed process held come back within the test.
    NOTIFIER_ACK_WAIT_MS: "3000",
    NOTIFIER_SEND_TIMEOUT_MS: "2000",
    // One batch of one event at a time: the kill test proves exactly-once for the email in hand. With
    // more events in flight, up to that many emails can sit in the inherent window between SMTP's 250
    // and their batch's commit when the process dies (see notification-store.ts).
    NOTIFIER_CONCURRENCY: "1",
    NOTIFIER_BATCH_SIZE: "1",
    NOTIFIER_BATCHES_IN_FLIGHT: "1",
    LOG_LEVEL: "info",
  });
  processes.push(p);
  const listening = await p.waitForLog((l) => l.msg === "listening", "notifier listening", 30_000);
  return Object.assign(p, { grpcPort: listening.grpcPort as number });
}

const health = (p: NotifierProcess) => probeHealth(`127.0.0.1:${p.grpcPort}`, "", 1000);

describe("notifier process", () => {
  it("reports SERVING only while both NATS and its database are reachable", async () => {
    const p = await startNotifier();
    await waitFor(async () => (await health(p)) === "SERVING", { what: "SERVING after start" });

    await nats.kill();
    await waitFor(async () => (await health(p)) === "NOT_SERVING", { what: "NOT_SERVING without NATS" });
    await nats.start();
    await waitFor(async () => (await health(p)) === "SERVING", { what: "SERVING after NATS returned", timeoutMs: 20_000 });

    // Refuse new connections to the database and end the open ones: the pool cannot get it back.
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
    try {
      await admin`alter database ${admin(db.name)} allow_connections false`;
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${db.name}`;
      await waitFor(async () => (await health(p)) === "NOT_SERVING", { what: "NOT_SERVING without the database" });
      await admin`alter database ${admin(db.name)} allow_connections true`;
      await waitFor(async () => (await health(p)) === "SERVING", { what: "SERVING after the database returned" });
    } finally {
      await admin`alter database ${admin(db.name)} allow_connections true`;
      await admin.end();
    }
  }, 90_000);

  it("sends every email exactly once across a kill -9 in the middle of a batch", async () => {
    const events = Array.from({ length: 30 }, () => sampleEvent("created"));
    // Slow acceptance, so the batch is still in progress when the process is killed.
    smtp.acceptDelayMs = 50;
    const delivered = (id: string) => smtp.emails.filter((m) => m.messageId === eventMessageId(id)).length;
    try {
      const first = await startNotifier();
      for (const e of events) await publishOrderEvent(f.js, f.subjectPrefix, e);
      await waitFor(() => smtp.emails.length >= 5, { what: "a few emails sent" });
      // Killed while the SMTP server holds a message unanswered (no 250 yet): the email is not
      // delivered and the notifier never marked it sent. A kill between the 250 and the commit would
      // send it twice; that window is inherent to SMTP (see notification-store.ts).
      const held = await smtp.holdNext();
      await first.stop("SIGKILL");
      await waitFor(() => smtp.isClosed(held), { what: "held SMTP session closed by the kill" });
      smtp.releaseHeld();
      const sentBeforeKill = smtp.emails.length;
      expect(sentBeforeKill).toBeLessThan(events.length);

      await startNotifier();
      await waitFor(() => events.every((e) => delivered(e.eventId) >= 1), { what: "every event emailed", timeoutMs: 40_000 });
      const info = await waitFor(async () => {
        const i = await f.jsm.consumers.info(f.stream, "notifier");
        return i.num_ack_pending === 0 && i.num_pending === 0 ? i : undefined;
      }, { what: "consumer fully acked", timeoutMs: 20_000 });
      expect(info.ack_floor.stream_seq).toBe(events.length);
      expect(events.map((e) => delivered(e.eventId))).toEqual(events.map(() => 1));
      expect(smtp.emails).toHaveLength(events.length);
    } finally {
      smtp.acceptDelayMs = 0;
    }
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<{ status: string; n: number }[]>`select status::text, count(*)::int as n from notifications group by status`;
      expect(rows).toEqual([{ status: "sent", n: events.length }]);
    } finally {
      await sql.end();
    }
  }, 120_000);
});
