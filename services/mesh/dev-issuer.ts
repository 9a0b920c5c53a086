import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from "jose";

/** The dev issuer's `iss`; services started by `npm start` accept only this. */
export const devIssuer = "ordermesh-dev";
/** The audience every ordermesh service expects by default (AUTH_AUDIENCE). */
export const defaultAudience = "ordermesh";

/** What a token says about its bearer. */
export interface TokenClaims {
  /** The customer id (`sub`). */
  customerId: string;
  email?: string | undefined;
  admin?: boolean | undefined;
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number | undefined;
}

/** A signing key and the names a token must carry to be accepted. */
export interface TokenSigner {
  privateKey: CryptoKey;
  kid: string;
  issuer: string;
  audience: string;
}

/** The email a dev-issuer token carries when none is asked for: orders confirm to the token's email. */
export function devEmail(customerId: string): string {
  return `${customerId}@example.com`;
}

/** Signs an ES256 token for these claims, as an OpenID provider would. */
export async function mintToken(signer: TokenSigner, claims: TokenClaims): Promise<string> {
  const jwt = new SignJWT({ ...(claims.email ? { email: claims.email } : {}), roles: claims.admin ? ["admin"] : [] })
    .setProtectedHeader({ alg: "ES256", kid: signer.kid, typ: "JWT" })
    .setSubject(claims.customerId)
    .setIssuer(signer.issuer)
    .setAudience(signer.audience)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds ?? 3600}s`);
  return jwt.sign(signer.privateKey);
}

/** A fresh ES256 key pair: the signer and the public JWKS that verifies it. */
export async function newSigningKey(issuer: string, audience = defaultAudience): Promise<{ signer: TokenSigner; privateJwk: JWK; jwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `dev-${Date.now().toString(36)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { signer: { privateKey, kid, issuer, audience }, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: "ES256" }, jwks: { keys: [publicJwk] } };
}

/** Where the dev issuer keeps its files under the launcher's data folder. */
export function devIssuerPaths(dataDir: string): { dir: string; privateKeyFile: string; jwksFile: string } {
  const dir = join(dataDir, "dev-issuer");
  return { dir, privateKeyFile: join(dir, "signing-key.jwk.json"), jwksFile: join(dir, "jwks.json") };
}

/**
 * The `npm start` dev issuer: its signing key is made on first start and kept in the data folder
 * (private key readable by its owner only), with the public JWKS file the services verify against.
 */
export async function ensureDevIssuer(dataDir: string): Promise<{ jwksFile: string; issuer: string; signer: TokenSigner }> {
  const paths = devIssuerPaths(dataDir);
  try {
    return { jwksFile: paths.jwksFile, issuer: devIssuer, signer: await loadDevSigner(dataDir) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const key = await newSigningKey(devIssuer);
  await writeFile(paths.jwksFile, JSON.stringify(key.jwks, null, 2));
  await writeFile(paths.privateKeyFile, JSON.stringify(key.privateJwk), { mode: 0o600 });
  await chmod(paths.privateKeyFile, 0o600);
  return { jwksFile: paths.jwksFile, issuer: devIssuer, signer: key.signer };
}

/** The dev issuer's signer, read from the data folder a running mesh made; ENOENT before the first `npm start`. */
export async function loadDevSigner(dataDir: string): Promise<TokenSigner> {
  const jwk = JSON.parse(await readFile(devIssuerPaths(dataDir).privateKeyFile, "utf8")) as JWK;
  const privateKey = (await importJWK(jwk, "ES256")) as CryptoKey;
  return { privateKey, kid: jwk.kid ?? "", issuer: devIssuer, audience: defaultAudience };
}
