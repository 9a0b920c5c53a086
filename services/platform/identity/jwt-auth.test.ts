import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { mintToken, newSigningKey } from "../../mesh/dev-issuer.js";
import { createTestIssuer, type TestIssuer } from "../../../tests/support/test-issuer.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { createCallerAuthenticator } from "./jwt-auth.js";

// The verifier on its own: key sources (a rotating JWKS file, a JWKS URL) and what it makes of claims.
let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await createTestIssuer();
});
afterAll(async () => issuer?.remove());

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e));

describe("createCallerAuthenticator", () => {
  it("says who calls: sub, email and the admin role", async () => {
    const auth = await createCallerAuthenticator({ disabled: false, jwksFile: issuer.env.AUTH_JWKS_FILE, issuer: issuer.env.AUTH_ISSUER, audience: "ordermesh" });
    expect(await auth.authenticate(bearer(await issuer.token("c-1")))).toEqual({ customerId: "c-1", email: "c-1@example.com", admin: false });
    expect(await auth.authenticate(bearer(await issuer.token("ops", { admin: true, email: "" })))).toEqual({ customerId: "ops", email: "", admin: true });
  });

  it("picks up a key added to the JWKS file without a restart", async () => {
    const auth = await createCallerAuthenticator({ disabled: false, jwksFile: issuer.env.AUTH_JWKS_FILE, issuer: issuer.env.AUTH_ISSUER, audience: "ordermesh" });
    const next = await newSigningKey(issuer.env.AUTH_ISSUER);
    const token = await mintToken(next.signer, { customerId: "rotated" });
    expect((await refusal(auth.authenticate(bearer(token))))?.code).toBe(Code.Unauthenticated);
    const current = JSON.parse(await readFile(issuer.env.AUTH_JWKS_FILE, "utf8")) as { keys: unknown[] };
    await writeFile(issuer.env.AUTH_JWKS_FILE, JSON.stringify({ keys: [...current.keys, ...next.jwks.keys] }));
    // An unknown kid makes it look at the file again (at most once a second).
    const caller = await waitFor(() => auth.authenticate(bearer(token)), { timeoutMs: 5000, what: "the rotated key to verify" });
    expect(caller.customerId).toBe("rotated");
  });

  it("fetches keys from AUTH_JWKS_URL, and an unreachable one is UNAVAILABLE, not the caller's fault", async () => {
    const jwks = await readFile(issuer.env.AUTH_JWKS_FILE, "utf8");
    const server: Server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(jwks));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    try {
      const auth = await createCallerAuthenticator({ disabled: false, jwksUrl: url, issuer: issuer.env.AUTH_ISSUER, audience: "ordermesh" });
      expect((await auth.authenticate(bearer(await issuer.token("remote")))).customerId).toBe("remote");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const down = await createCallerAuthenticator({ disabled: false, jwksUrl: url, issuer: issuer.env.AUTH_ISSUER, audience: "ordermesh" });
    expect((await refusal(down.authenticate(bearer(await issuer.token("remote")))))?.code).toBe(Code.Unavailable);
  });

  it("stands in an admin without a customer id when disabled, whatever the header", async () => {
    const auth = await createCallerAuthenticator({ disabled: true });
    expect(await auth.authenticate(new Headers())).toEqual({ customerId: "", email: "", admin: true });
  });
});
