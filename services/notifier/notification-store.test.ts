import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../tests/support/wait-for.js";
import { createNotifierDatabase, type NotifierDatabase } from "../../tests/support/notifier-database.js";
import type { NotificationClaim } from "./notification-store.js";

let n: NotifierDatabase;
beforeAll(async () => {
  n = await createNotifierDatabase();
});
afterAll(async () => {
  await n?.close();
});

function claim(kind: NotificationClaim["kind"] = "created"): NotificationClaim {
  return { eventId: randomUUID(), orderId: randomUUID(), kind, recipient: "a@example.com", subject: "Order #1 confirmed" };
}

describe("NotificationStore.sendOnce", () => {
  it("sends once and reports later deliveries of the event as duplicates", async () => {
    const c = claim();
    let sends = 0;
    const send = async () => ({ messageId: `<m${++sends}>` });
    const first = await n.store.sendOnce(c, send);
    const second = await n.store.sendOnce(c, send);
    expect(first.kind).toBe("sent");
    expect(second.kind).toBe("duplicate");
    expect(sends).toBe(1);
    const row = await n.store.get(c.eventId);
    expect(row).toMatchObject({ status: "sent", attempts: 1, messageId: "<m1>", lastError: null });
    expect(row?.sentAt).toBeInstanceOf(Date);
  });

  it("lets only one of two concurrent deliveries send; the other waits and skips", async () => {
    const c = claim();
    let sends = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowSend = async () => {
      sends++;
      await gate;
      return { messageId: "<slow>" };
    };
    const a = n.store.sendOnce(c, slowSend);
    const b = n.store.sendOnce(c, slowSend);
    // The second claim blocks on the row lock of the first, uncommitted one, instead of sending.
    await waitFor(async () => {
      const [row] = await n.database.sql`select count(*)::int as waiting from pg_stat_activity where datname = ${n.testDb.name} and wait_event_type = 'Lock'`;
      return row?.waiting === 1;
    }, { what: "second delivery waiting on the claim lock" });
    expect(sends).toBe(1);
    release();
    const outcomes = (await Promise.all([a, b])).map((o) => o.kind).sort();
    expect(outcomes).toEqual(["duplicate", "sent"]);
    expect(sends).toBe(1);
  });

  it("records a failed send and sends on a later delivery", async () => {
    const c = claim();
    const failed = await n.store.sendOnce(c, async () => {
      throw new Error("connect ECONNREFUSED");
    });
    expect(failed.kind).toBe("failed");
    expect(failed.row).toMatchObject({ status: "pending", attempts: 1, lastError: "connect ECONNREFUSED" });
    const sent = await n.store.sendOnce(c, async () => ({ messageId: "<ok>" }));
    expect(sent.kind).toBe("sent");
    expect(sent.row).toMatchObject({ status: "sent", attempts: 2, lastError: null });
  });

  it("markFailed flags a given-up notification but never a sent one", async () => {
    const pending = claim();
    await n.store.sendOnce(pending, async () => {
      throw new Error("down");
    });
    await n.store.markFailed(pending.eventId, "gave up");
    expect(await n.store.get(pending.eventId)).toMatchObject({ status: "failed", lastError: "gave up" });

    const sent = claim();
    await n.store.sendOnce(sent, async () => ({ messageId: "<x>" }));
    await n.store.markFailed(sent.eventId, "late dead letter");
    expect((await n.store.get(sent.eventId))?.status).toBe("sent");
    expect(await n.store.listByOrder(sent.orderId)).toHaveLength(1);
  });
});

describe("NotificationStore.sendBatch", () => {
  it("claims, sends and marks a batch of every kind in one transaction", async () => {
    const claims = (["created", "shipped", "delivered", "cancelled"] as const).map((kind) => claim(kind));
    const sent: string[] = [];
    const outcomes = await n.store.sendBatch(claims, async (c) => {
      sent.push(c.eventId);
      return { messageId: `<${c.eventId}>` };
    });
    // One transaction for the whole batch: now(), its start time, stamped every row alike.
    const rows = await Promise.all(claims.map((c) => n.store.get(c.eventId)));
    expect(new Set(rows.map((r) => r!.createdAt.getTime())).size).toBe(1);
    expect(outcomes.map((o) => o.kind)).toEqual(["sent", "sent", "sent", "sent"]);
    expect(sent.sort()).toEqual(claims.map((c) => c.eventId).sort());
    for (const c of claims) expect(await n.store.get(c.eventId)).toMatchObject({ kind: c.kind, status: "sent", attempts: 1, messageId: `<${c.eventId}>` });
    expect(outcomes.map((o) => o.row.eventId)).toEqual(claims.map((c) => c.eventId));
  });

  it("sends an event that is twice in one batch once, and skips events sent by an earlier batch", async () => {
    const earlier = claim();
    await n.store.sendOnce(earlier, async () => ({ messageId: "<earlier>" }));
    const twice = claim();
    let sends = 0;
    const outcomes = await n.store.sendBatch([twice, earlier, { ...twice }], async () => ({ messageId: `<m${++sends}>` }));
    expect(outcomes.map((o) => o.kind)).toEqual(["sent", "duplicate", "duplicate"]);
    expect(sends).toBe(1);
    expect(await n.store.get(twice.eventId)).toMatchObject({ status: "sent", attempts: 1, messageId: "<m1>" });
    expect(await n.store.get(earlier.eventId)).toMatchObject({ status: "sent", attempts: 1, messageId: "<earlier>" });
  });

  it("records a failed send in a batch on its row only; the next batch retries it alone", async () => {
    const ok = claim();
    const refused = claim();
    const first = await n.store.sendBatch([ok, refused], async (c) => {
      if (c.eventId === refused.eventId) throw new Error("550 mailbox unavailable");
      return { messageId: "<ok>" };
    });
    expect(first.map((o) => o.kind)).toEqual(["sent", "failed"]);
    expect(first[1]).toMatchObject({ row: { status: "pending", attempts: 1, lastError: "550 mailbox unavailable" } });
    const tried: string[] = [];
    const second = await n.store.sendBatch([ok, refused], async (c) => {
      tried.push(c.eventId);
      return { messageId: "<retry>" };
    });
    expect(second.map((o) => o.kind)).toEqual(["duplicate", "sent"]);
    expect(tried).toEqual([refused.eventId]);
    expect(await n.store.get(refused.eventId)).toMatchObject({ status: "sent", attempts: 2, lastError: null });
    expect(await n.store.get(ok.eventId)).toMatchObject({ attempts: 1, messageId: "<ok>" });
  });

  it("sends nothing and opens no transaction for an empty batch", async () => {
    expect(await n.store.sendBatch([], async () => ({ messageId: "<never>" }))).toEqual([]);
  });
});
