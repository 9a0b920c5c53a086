import { Code, ConnectError } from "@connectrpc/connect";
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { unauthenticatedAdmin, type Caller } from "./caller.js";
import type { AuthConfig } from "../process/config.js";
import { watchedJwksFile } from "./jwks-file.js";
import { VerifiedTokenCache } from "./verified-token-cache.js";

/** Verifies the bearer token of a call and says who is calling. */
export interface CallerAuthenticator {
  /** The verified caller; UNAUTHENTICATED (saying why, never echoing the token) when the token is missing or bad. */
  authenticate(requestHeader: Headers): Promise<Caller>;
}

// Asymmetric only: with HS* a verifier holding a public key could be fooled by a token "signed" with
// that public key's bytes as the HMAC secret; "none" is not a signature at all.
const acceptedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
// Clocks of issuer and service may disagree a little; 30 s is what common gateways allow.
const clockToleranceSeconds = 30;
// A real token is well under 2 KiB; a bound keeps a huge header from costing base64 and JSON work.
const maxTokenLength = 8192;

/** The authenticator for an AUTH_* configuration: JWKS-verified tokens, or the stand-in admin when disabled. */
export async function createCallerAuthenticator(config: AuthConfig): Promise<CallerAuthenticator> {
  if (config.disabled) return { authenticate: async () => unauthenticatedAdmin };
  // jose caches the remote set and refetches it on an unknown kid (at most every 30 s) and after 10 minutes.
  const getKey: JWTVerifyGetKey = config.jwksFile ? await watchedJwksFile(config.jwksFile) : createRemoteJWKSet(new URL(config.jwksUrl!));
  const options = { issuer: config.issuer, audience: config.audience, algorithms: acceptedAlgorithms, clockTolerance: clockToleranceSeconds, requiredClaims: ["sub", "exp"] };
  const verified = new VerifiedTokenCache();
  return {
    async authenticate(requestHeader) {
      const token = bearerToken(requestHeader.get("authorization"));
      const known = verified.get(token);
      if (known) return known;
      let payload;
      try {
        ({ payload } = await jwtVerify(token, getKey, options));
      } catch (err) {
        throw tokenRefused(err);
      }
      if (typeof payload.sub !== "string" || payload.sub === "") throw unauthenticated("token has no subject (sub)");
      const roles = Array.isArray(payload.roles) ? payload.roles : [];
      const caller: Caller = Object.freeze({ customerId: payload.sub, email: typeof payload.email === "string" ? payload.email : "", admin: roles.includes("admin") });
      // exp is required, so it is a number here; the leeway that let the token in also bounds how long it is kept.
      verified.set(token, caller, (payload.exp! + clockToleranceSeconds) * 1000);
      return caller;
    },
  };
}

function bearerToken(header: string | null): string {
  if (header === null || header.trim() === "") throw unauthenticated("missing bearer token");
  const match = /^Bearer +([^ ]+) *$/i.exec(header);
  if (!match) throw unauthenticated('authorization header is not "Bearer <token>"');
  if (match[1]!.length > maxTokenLength) throw unauthenticated(`token longer than ${maxTokenLength} characters`);
  return match[1]!;
}

/** Names what is wrong with a token, in words a client developer can act on; jose's own messages may quote claims. */
function tokenRefused(err: unknown): ConnectError {
  if (err instanceof errors.JWTExpired) return unauthenticated("token expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "iss") return unauthenticated("token issuer not accepted");
    if (err.claim === "aud") return unauthenticated("token audience not accepted");
    if (err.claim === "nbf") return unauthenticated("token not yet valid");
    return unauthenticated(`token claim "${err.claim}" invalid (${err.reason})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated("token signature invalid");
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated("token algorithm not accepted (asymmetric signatures only)");
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated("token signed by a key the issuer does not publish");
  // A JWKS URL that times out, answers non-200 or cannot be reached (fetch's TypeError): not the caller's fault.
  if (err instanceof errors.JWKSTimeout || err?.constructor === errors.JOSEError || (err instanceof TypeError && err.message === "fetch failed")) {
    return new ConnectError("the issuer's keys cannot be fetched; retry", Code.Unavailable);
  }
  return unauthenticated("token malformed");
}

function unauthenticated(reason: string): ConnectError {
  return new ConnectError(reason, Code.Unauthenticated);
}
