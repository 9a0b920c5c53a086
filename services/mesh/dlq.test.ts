import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJetStreamFixture, TEST_NATS_URL, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { uniqueName } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { projectPath } from "../platform/db/index.js";
import { catalogue, deadLetterStreamName, encodeEvent, publishEvent, startEventConsumer, subjectOf } from "../platform/events/index.js";

// The compiled CLI as an operator runs it, against a test stream named through the services' variables.
let f: JetStreamFixture;
let dl: string;
let env: Record<string, string>;
const eventId = randomUUID();
const durable = uniqueName("refuses");
const entry = projectPath("dist/services/mesh/dlq.js");

/** Runs `node dist/services/mesh/dlq.js ...args`; resolves with its exit code and output. */
function dlq(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, ...args], { cwd: projectPath("."), env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (\`npm test\` does)`);
  f = await createJetStreamFixture();
  dl = deadLetterStreamName(f.stream);
  env = {
    NATS_URL: TEST_NATS_URL,
    EVENTS_STREAM: f.stream,
    EVENTS_SUBJECT_PREFIX: f.subjectPrefix,
    SHIPPING_EVENTS_STREAM: uniqueName("NOSHIP").toUpperCase(),
    SHIPPING_EVENTS_SUBJECT_PREFIX: uniqueName("noship"),
  };
  const consumer = await startEventConsumer({
    js: f.js, jsm: f.jsm, logger: f.logger, family: "orders", subjectPrefix: f.subjectPrefix, stream: f.stream,
    durable, events: ["orderCreated"], ackWaitMs: 5000, maxDeliver: 2, handle: async () => ({ deadLetter: "refused by the test" }),
  });
  const encoded = encodeEvent(catalogue.orderCreated, { eventId, order: { id: randomUUID() } });
  await publishEvent(f.js, { subject: subjectOf(catalogue.orderCreated, f.subjectPrefix), eventId, type: encoded.type, source: "/test", time: new Date(), payload: encoded.payload });
  await waitFor(async () => (await f.deadLetters()).length === 1, { what: "the dead letter" });
  await consumer.stop();
});

afterAll(async () => {
  await f?.close();
});

describe("npm run dlq", () => {
  it("lists the dead letter as a table and as JSON, and shows it with its payload", async () => {
    const [seq] = (await f.deadLetters()).map((m) => m.seq);
    const listed = await dlq("list");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^DEAD LETTER\s+CONSUMER/);
    expect(listed.stdout).toContain(`${dl}/${seq}`);
    expect(listed.stdout).toContain(eventId);
    expect(listed.stdout).toContain("refused by the test");

    const asJson = JSON.parse((await dlq("list", "--consumer", durable, "--json")).stdout) as { deadLetters: Array<{ eventId: string; sequence: string }> };
    expect(asJson.deadLetters).toEqual([expect.objectContaining({ eventId, sequence: String(seq) })]);

    const shown = await dlq("show", `${dl}/${seq}`);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`"eventId": "${eventId}"`);
    expect(shown.stdout).toContain(`original subject  ${f.subjectPrefix}.created`);
  });

  it("redrives it: gone from the dead letters, published again to its original subject", async () => {
    const [seq] = (await f.deadLetters()).map((m) => m.seq);
    const before = (await f.jsm.streams.info(f.stream)).state.last_seq;
    const redriven = await dlq("redrive", `${dl}/${seq}`);
    expect(redriven.code).toBe(0);
    expect(redriven.stdout).toContain(`redriven ${dl}/${seq}`);
    expect(redriven.stdout).toContain("1 redriven, 0 left");
    const copy = await f.jsm.streams.getMessage(f.stream, { seq: before + 1 });
    expect(copy!.subject).toBe(`${f.subjectPrefix}.created`);
    expect(copy!.header.get("ce-id")).toBe(eventId);
    expect((await dlq("list")).stdout.trim()).toBe("no dead letters");
    const again = await dlq("show", `${dl}/${seq}`);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no dead letter ${dl}/${seq}`);
  });

  it("exits 2 with the usage on bad usage", async () => {
    for (const args of [[], ["frobnicate"], ["redrive"], ["show", "nonsense"], ["list", "--stream", "ELSEWHERE"], ["list", "--bogus"], ["discard", "--all", "--consumer", "x"], ["outbox-retry", "--service", "orders", "not-a-uuid"], ["outbox-list", "--service", "billing"]]) {
      const run = await dlq(...args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toContain("usage: npm run dlq -- <command>");
    }
  });
});
