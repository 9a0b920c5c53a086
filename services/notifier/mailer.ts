import { mkdir, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import { ATTR_NETWORK_PROTOCOL_NAME, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from "@opentelemetry/semantic-conventions";
import type { Logger } from "../platform/process/index.js";
import { isTracing, SpanKind, withSpan } from "../platform/telemetry/index.js";

/** One email to send. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Message-ID header, e.g. from eventMessageId(); the same event always yields the same id. */
  messageId: string;
}

/** Sends email over SMTP, or writes .eml files for local runs. */
export interface Mailer {
  /** "smtp" or "files", for the start-up log. */
  readonly kind: "smtp" | "files";
  /** Sends one email within the mailer's deadline; resolves once the SMTP server accepted it. */
  send(message: MailMessage): Promise<{ messageId: string }>;
  close(): void;
}

/** Options of createMailer. */
export interface MailerOptions {
  /** smtp:// or smtps:// URL; undefined writes .eml files to emailDir. */
  smtpUrl: string | undefined;
  from: string;
  emailDir: string;
  /** Upper bound of one send; must stay below the consumer's AckWait. */
  timeoutMs: number;
  /** SMTP connections kept open and reused (one per concurrent send). Default 1. */
  maxConnections?: number;
  logger: Logger;
}

/** The email's Message-ID on its span, to find one email's send. */
const messageIdAttribute = "ordermesh.email.message_id";

/** The stable Message-ID of an event's email: a resend after a crash carries the same id as the first. */
export function eventMessageId(eventId: string): string {
  return `<${eventId}@notifier.ordermesh>`;
}

/**
 * Creates the SMTP mailer, or the .eml file writer when no SMTP_URL is set (and says where it writes).
 * While the process traces, each SMTP send is a CLIENT span "SMTP send" (server.address, server.port),
 * a child of the active span (the event's CONSUMER span); a written file is an INTERNAL "write .eml".
 */
export async function createMailer(options: MailerOptions): Promise<Mailer> {
  if (options.smtpUrl) {
    // Pooled: a fresh connection per email costs TCP set-up, the server's greeting (often delayed on
    // purpose against early talkers: 100 ms in smtp-server) and EHLO before every single message.
    const transport = nodemailer.createTransport({
      url: options.smtpUrl,
      pool: true,
      maxConnections: options.maxConnections ?? 1,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    });
    options.logger.info({ smtp: redactUrl(options.smtpUrl) }, "sending email over SMTP");
    const server = new URL(options.smtpUrl);
    const attributes = {
      [ATTR_SERVER_ADDRESS]: server.hostname,
      [ATTR_SERVER_PORT]: server.port ? Number(server.port) : server.protocol === "smtps:" ? 465 : 587,
      [ATTR_NETWORK_PROTOCOL_NAME]: "smtp",
    };
    const smtpSend = (message: MailMessage) => withDeadline(sendWith(transport, options.from, message), options.timeoutMs, "SMTP send");
    return {
      kind: "smtp",
      // Checked first, so a notifier that does not trace builds no span options per email.
      send: (message) =>
        isTracing() ? withSpan("SMTP send", { kind: SpanKind.CLIENT, attributes: { ...attributes, [messageIdAttribute]: message.messageId } }, () => smtpSend(message)) : smtpSend(message),
      close: () => transport.close(),
    };
  }
  const dir = resolve(options.emailDir);
  await mkdir(dir, { recursive: true });
  options.logger.info({ emailDir: dir }, `no SMTP_URL: writing emails as .eml files to ${dir}`);
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    kind: "files",
    send: (message) => withSpan("write .eml", { attributes: { [messageIdAttribute]: message.messageId } }, () => writeEml(message)),
    close: () => transport.close(),
  };

  async function writeEml(message: MailMessage): Promise<{ messageId: string }> {
    const info = await transport.sendMail(mailOptions(options.from, message));
    // File named by Message-ID, written via rename: a resend replaces the file instead of adding one.
    const name = message.messageId.replace(/[<>]/g, "").replace(/[^A-Za-z0-9@._-]/g, "_");
    const path = join(dir, `${name}.eml`);
    await writeFile(`${path}.tmp`, info.message as Buffer);
    await rename(`${path}.tmp`, path);
    return { messageId: info.messageId };
  }
}

async function sendWith(transport: Transporter, from: string, message: MailMessage): Promise<{ messageId: string }> {
  const info = await transport.sendMail(mailOptions(from, message));
  return { messageId: info.messageId as string };
}

function mailOptions(from: string, message: MailMessage) {
  return { from, to: message.to, subject: message.subject, text: message.text, html: message.html, messageId: message.messageId };
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
