import * as http2 from "node:http2";

/** Outcome of one unary call: the gRPC status code (0 = OK) and the response message bytes. */
export interface UnaryResult {
  code: number;
  message: Buffer;
}

/**
 * A minimal gRPC unary client on one node:http2 session. The benchmark's client shares two cores with
 * the servers it measures, so it does the least work a correct gRPC client can: pre-encoded requests,
 * no interceptors, status from the trailers. The same client drives the mesh and the bare-http2 ceiling.
 */
export class GrpcH2Client {
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly baseUrl: string) {}

  /** Calls `path` (/package.Service/Method) with an already serialised request message. */
  unary(path: string, request: Uint8Array, timeoutMs = 10_000, headers: Record<string, string> = {}): Promise<UnaryResult> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let code: number | undefined;
      let settled = false;
      const finish = (fallback: number) => {
        if (settled) return;
        settled = true;
        resolve({ code: code ?? fallback, message: unframe(Buffer.concat(chunks)) });
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.connect().request({
          ...headers,
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${timeoutMs}m`,
        });
      } catch {
        return finish(14);
      }
      stream.on("response", (headers) => {
        // Trailers-only responses (errors) carry grpc-status in the headers.
        if (headers["grpc-status"] !== undefined) code = Number(headers["grpc-status"]);
      });
      stream.on("trailers", (trailers) => {
        code = Number(trailers["grpc-status"]);
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      // A stream ending without grpc-status is UNKNOWN (2); a reset or socket error is UNAVAILABLE (14).
      stream.on("end", () => finish(2));
      stream.on("close", () => finish(14));
      stream.on("error", () => finish(14));
      stream.end(frame(request));
    });
  }

  /** Closes the session; calls in flight finish first. */
  close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    return new Promise((resolve) => (s && !s.closed ? s.close(() => resolve()) : resolve()));
  }

  private connect(): http2.ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      const s = http2.connect(this.baseUrl);
      // A broken session is replaced on the next call; its streams already report UNAVAILABLE.
      s.on("error", () => undefined);
      s.on("close", () => {
        if (this.session === s) this.session = undefined;
      });
      s.unref();
      this.session = s;
    }
    return this.session;
  }
}

/** The gRPC length-prefixed message: 1 byte compressed flag (0), 4 bytes big-endian length, the bytes. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** The message bytes of a single length-prefixed gRPC message (empty when there is none). */
export function unframe(body: Buffer): Buffer {
  if (body.length < 5) return Buffer.alloc(0);
  return body.subarray(5, 5 + body.readUInt32BE(1));
}
