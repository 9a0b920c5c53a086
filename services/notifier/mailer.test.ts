import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSmtpSink, type SmtpSink } from "../../tests/support/smtp-sink.js";
import { createLogger } from "../platform/process/index.js";
import { createMailer, eventMessageId } from "./mailer.js";

const logger = createLogger("mailer-test", "silent");
const message = (id: string) => ({
  to: "buyer@example.com",
  subject: "Order #1 confirmed",
  text: "Total: €28.99",
  html: "<p>Total: €28.99</p>",
  messageId: eventMessageId(id),
});

let smtp: SmtpSink;
let dir: string;
beforeAll(async () => {
  [smtp, dir] = await Promise.all([startSmtpSink(), mkdtemp(join(tmpdir(), "mailer-test-"))]);
});
afterAll(async () => {
  await Promise.all([smtp?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

describe("mailer without SMTP_URL", () => {
  it("writes one .eml file per Message-ID; a resend replaces it", async () => {
    const mailer = await createMailer({ smtpUrl: undefined, from: "shop@example.com", emailDir: join(dir, "eml"), timeoutMs: 1000, logger });
    const id = crypto.randomUUID();
    const first = await mailer.send(message(id));
    await mailer.send(message(id));
    mailer.close();
    expect(mailer.kind).toBe("files");
    expect(first.messageId).toBe(eventMessageId(id));
    expect(await readdir(join(dir, "eml"))).toEqual([`${id}@notifier.ordermesh.eml`]);
    const eml = await readFile(join(dir, "eml", `${id}@notifier.ordermesh.eml`), "utf8");
    expect(eml).toContain(`Message-ID: ${eventMessageId(id)}`);
    expect(eml).toContain("Subject: Order #1 confirmed");
  });
});

describe("mailer over SMTP", () => {
  it("sends with the event's Message-ID", async () => {
    const mailer = await createMailer({ smtpUrl: smtp.url, from: "shop@example.com", emailDir: dir, timeoutMs: 2000, logger });
    const id = crypto.randomUUID();
    await mailer.send(message(id));
    mailer.close();
    const received = smtp.emails.find((m) => m.messageId === eventMessageId(id));
    expect(received?.subject).toBe("Order #1 confirmed");
    expect(received?.body).toContain("Total: €28.99");
    expect(received?.envelope).toEqual({ from: "shop@example.com", to: ["buyer@example.com"] });
  });

  it("gives up at its deadline when the server does not answer", async () => {
    const mailer = await createMailer({ smtpUrl: smtp.url, from: "shop@example.com", emailDir: dir, timeoutMs: 300, logger });
    smtp.acceptDelayMs = 2000;
    try {
      const started = Date.now();
      await expect(mailer.send(message(crypto.randomUUID()))).rejects.toThrow(/timed out after 300 ms/);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      smtp.acceptDelayMs = 0;
      mailer.close();
    }
  });
});
