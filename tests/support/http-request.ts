import * as http from "node:http";

/** A plain HTTP/1.1 response: status, headers, and the body as text and as bytes. */
export interface PlainResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  bytes: Buffer;
}

/** Sends one HTTP/1.1 request with exactly these headers (fetch would add or forbid some, e.g. Origin). */
export function httpRequest(url: string, init: { method: string; headers?: Record<string, string>; body?: string | Uint8Array }): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString("utf8"), bytes });
      });
    });
    req.on("error", reject);
    req.end(init.body);
  });
}
