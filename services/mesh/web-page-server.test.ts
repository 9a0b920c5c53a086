import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebPageServer, type WebPageServer } from "./web-page-server.js";

// The page server's dev sign-in: whoever reaches it can be any customer, so only loopback may.
let root: string;
let withIssuer: WebPageServer;
let withoutIssuer: WebPageServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ordermesh-page-"));
  await writeFile(join(root, "index.html"), "<!doctype html>");
  withIssuer = await startWebPageServer({ root, host: "127.0.0.1", port: 0, apiUrl: undefined, devToken: async (c) => `token-for-${c}` });
  withoutIssuer = await startWebPageServer({ root, host: "127.0.0.1", port: 0, apiUrl: undefined });
});
afterAll(async () => {
  await withIssuer?.close();
  await withoutIssuer?.close();
  await rm(root, { recursive: true, force: true });
});

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string; cors: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, cors: res.headers["access-control-allow-origin"] as string | undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("/dev-token", () => {
  it("signs in the customer asked for, with no CORS headers for other origins to read it", async () => {
    expect(await get(withIssuer.port, "/dev-token?customer=c-7")).toEqual({ status: 200, body: "token-for-c-7", cors: undefined });
    expect((await get(withIssuer.port, "/dev-token?customer=c-7", `localhost:${withIssuer.port}`)).status).toBe(200);
  });

  it("is refused for a non-loopback Host (DNS rebinding), an empty customer, and where no dev issuer runs", async () => {
    expect((await get(withIssuer.port, "/dev-token?customer=c-7", "attacker.example")).status).toBe(404);
    expect((await get(withIssuer.port, "/dev-token?customer=")).status).toBe(400);
    expect((await get(withoutIssuer.port, "/dev-token?customer=c-7")).status).toBe(404);
  });
});

describe("the page server's late settings", () => {
  it("binds before it knows the orders web port, then redirects / to it once told; the console API waits for the launcher", async () => {
    expect((await get(withoutIssuer.port, "/")).status).toBe(200);
    expect((await get(withoutIssuer.port, "/console/api/services")).status).toBe(503);
    withoutIssuer.setApiUrl("http://127.0.0.1:8081");
    const redirected = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      request({ host: "127.0.0.1", port: withoutIssuer.port, path: "/" }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      })
        .on("error", reject)
        .end();
    });
    expect(redirected).toEqual({ status: 302, location: "/?api=http://127.0.0.1:8081" });
  });
});
