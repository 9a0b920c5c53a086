import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerSession } from "smtp-server";

/** One email as the SMTP server received it. */
export interface ReceivedEmail {
  raw: string;
  messageId: string;
  subject: string;
  to: string;
  /** SMTP envelope (MAIL FROM, RCPT TO), which need not match the headers. */
  envelope: { from: string; to: string[] };
  /** The whole body with quoted-printable undone (text and HTML parts together), for content checks. */
  body: string;
}

/** A real SMTP server in this process that keeps what it receives. */
export interface SmtpSink {
  url: string;
  port: number;
  readonly emails: ReceivedEmail[];
  /** Recipients refused with a permanent 550 at RCPT TO. */
  readonly rejectedRecipients: Set<string>;
  /** Pause between receiving a message and accepting it (250), to hold senders mid-transaction. */
  acceptDelayMs: number;
  /** Messages received and not yet answered, i.e. senders currently inside an SMTP transaction. */
  readonly holding: number;
  /** Holds the next message unanswered until releaseHeld(); returns the SMTP session id once it arrives. */
  holdNext(): Promise<string>;
  /** Answers the held message; it is delivered only if its sender is still connected. */
  releaseHeld(): void;
  /** Whether the client of an SMTP session has disconnected. */
  isClosed(sessionId: string): boolean;
  /** Closes the listener (connection refused, like a server that is down) until up(). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an SMTP server on a free port; no TLS or auth, so nodemailer sends in plain SMTP. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const emails: ReceivedEmail[] = [];
  const rejectedRecipients = new Set<string>();
  const closedSessions = new Set<string>();
  let holding = 0;
  let holdRequest: ((sessionId: string) => void) | undefined;
  let heldRelease: (() => void) | undefined;
  const sink = { acceptDelayMs: 0 };
  let server: SMTPServer | undefined;
  let port = 0;

  const up = async () => {
    const s = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (!rejectedRecipients.has(address.address)) return callback();
        callback(Object.assign(new Error(`mailbox ${address.address} unavailable`), { responseCode: 550 }));
      },
      onClose(session) {
        closedSessions.add(session.id);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", async () => {
          holding++;
          if (holdRequest) {
            const arrived = holdRequest;
            holdRequest = undefined;
            await new Promise<void>((release) => {
              heldRelease = release;
              arrived(session.id);
            });
          } else if (sink.acceptDelayMs > 0) {
            await new Promise((r) => setTimeout(r, sink.acceptDelayMs));
          }
          holding--;
          // Like a real MTA, a message whose sender vanished before the 250 reply is not delivered.
          if (!closedSessions.has(session.id)) emails.push(parse(Buffer.concat(chunks).toString("utf8"), envelopeOf(session)));
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    // A client killed mid-session (a notifier replica killed -9) resets its socket; a real MTA logs that and goes on.
    s.on("error", () => {});
    port = (s.server.address() as AddressInfo).port;
    server = s;
  };
  const down = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await up();
  return {
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    emails,
    rejectedRecipients,
    get acceptDelayMs() {
      return sink.acceptDelayMs;
    },
    set acceptDelayMs(ms: number) {
      sink.acceptDelayMs = ms;
    },
    get holding() {
      return holding;
    },
    holdNext: () => new Promise<string>((resolve) => (holdRequest = resolve)),
    releaseHeld() {
      heldRelease?.();
      heldRelease = undefined;
    },
    isClosed: (sessionId) => closedSessions.has(sessionId),
    up,
    down,
    stop: down,
  };
}

function envelopeOf(session: SMTPServerSession): ReceivedEmail["envelope"] {
  const from = session.envelope.mailFrom;
  return { from: from ? from.address : "", to: session.envelope.rcptTo.map((r) => r.address) };
}

function parse(raw: string, envelope: ReceivedEmail["envelope"]): ReceivedEmail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, " ");
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head)?.[1]?.trim() ?? "";
  let body = raw.slice(split);
  if (/content-transfer-encoding:\s*quoted-printable/i.test(raw)) {
    const bytes = body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    body = Buffer.from(bytes, "latin1").toString("utf8");
  }
  return { raw, messageId: header("message-id"), subject: header("subject"), to: header("to"), envelope, body };
}
