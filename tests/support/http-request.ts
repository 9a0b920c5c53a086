import * as http from "node:http";

/** A plain HTTP/1.1 response: status, headers and body text. */
export interface PlainResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends one HTTP/1.1 request with exactly these headers (fetch would add or forbid some, e.g. Origin). */
export function httpRequest(url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}
