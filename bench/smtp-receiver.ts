import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

/** An SMTP server that accepts everything and remembers when each Message-ID arrived. */
export interface SmtpReceiver {
  url: string;
  /** Wall-clock ms (Date.now()) at which each Message-ID was accepted. */
  readonly receivedAt: Map<string, number>;
  stop(): Promise<void>;
}

/** Starts the receiver on a free 127.0.0.1 port; no TLS or auth, so nodemailer talks plain SMTP. */
export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const receivedAt = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    // smtp-server resolves every client's address by default; for 127.0.0.1 that is pure per-email overhead.
    disableReverseLookup: true,
    // The notifier opens one connection per email; a burst of 1000/s must not hit a connection cap.
    maxClients: 10_000,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const head = raw.slice(0, raw.search(/\r?\n\r?\n/));
        const id = /^message-id:\s*(\S+)/im.exec(head)?.[1];
        if (id) receivedAt.set(id, Date.now());
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    receivedAt,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
