import { readFile, stat } from "node:fs/promises";
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from "jose";

// Rotation on disk shows up within this long; between checks a call costs no system call.
const recheckMs = 5000;
// A token naming an unknown kid may be the first of a new key: look at the file again, at most this often.
const unknownKidRecheckMs = 1000;

/**
 * Keys from a JWKS JSON file (AUTH_JWKS_FILE), read at start and re-read when its mtime changes, so an
 * issuer can rotate keys without restarting services. A file that cannot be read at start is an error;
 * a later bad write keeps the last good keys.
 */
export async function watchedJwksFile(path: string): Promise<JWTVerifyGetKey> {
  let mtimeMs = (await stat(path)).mtimeMs;
  let current = await load(path);
  let checkedAt = Date.now();
  let checking: Promise<void> | undefined;

  const recheck = () =>
    (checking ??= (async () => {
      try {
        const s = await stat(path);
        if (s.mtimeMs !== mtimeMs) {
          current = await load(path);
          mtimeMs = s.mtimeMs;
        }
      } catch {
        // Mid-rotation (file briefly missing or half written): keep serving the keys we have.
      } finally {
        checkedAt = Date.now();
        checking = undefined;
      }
    })());

  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (Date.now() - checkedAt > recheckMs) await recheck();
    try {
      return await current(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - checkedAt < unknownKidRecheckMs) throw err;
      await recheck();
      return current(header, token);
    }
  };
  return getKey;
}

async function load(path: string): Promise<JWTVerifyGetKey> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`AUTH_JWKS_FILE ${path} is not a readable JWKS JSON file: ${err instanceof Error ? err.message : String(err)}`);
  }
  return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
}
