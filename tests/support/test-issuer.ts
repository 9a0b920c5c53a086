import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken, newSigningKey, type TokenClaims, type TokenSigner } from "../../services/mesh/dev-issuer.js";

/** An issuer for tests: its own key pair and JWKS file, minting tokens a service configured with `env` accepts. */
export interface TestIssuer {
  /** AUTH_JWKS_FILE and AUTH_ISSUER for a service process or config. */
  env: { AUTH_JWKS_FILE: string; AUTH_ISSUER: string };
  signer: TokenSigner;
  /** A valid token for this customer. */
  token(customerId: string, claims?: Omit<TokenClaims, "customerId">): Promise<string>;
  /** `{ authorization: "Bearer <token>" }` for this customer. */
  header(customerId: string, claims?: Omit<TokenClaims, "customerId">): Promise<Record<string, string>>;
  /** Removes the JWKS file. */
  remove(): Promise<void>;
}

/** Makes a key pair and writes its public JWKS to a fresh temporary folder. */
export async function createTestIssuer(issuer = `https://issuer.test/${Math.random().toString(36).slice(2)}`): Promise<TestIssuer> {
  const dir = await mkdtemp(join(tmpdir(), "ordermesh-issuer-"));
  const { signer, jwks } = await newSigningKey(issuer);
  const jwksFile = join(dir, "jwks.json");
  await writeFile(jwksFile, JSON.stringify(jwks));
  const token = (customerId: string, claims: Omit<TokenClaims, "customerId"> = {}) => mintToken(signer, { email: `${customerId}@example.com`, ...claims, customerId });
  return {
    env: { AUTH_JWKS_FILE: jwksFile, AUTH_ISSUER: issuer },
    signer,
    token,
    header: async (customerId, claims) => ({ authorization: `Bearer ${await token(customerId, claims)}` }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
