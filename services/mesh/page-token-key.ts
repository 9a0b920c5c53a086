import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The PAGE_TOKEN_KEY of the local mesh, kept in its data folder so ListOrders page tokens stay valid
 * across restarts of `npm start` (a key per process would make every token handed out before invalid).
 */
export async function localPageTokenKey(dataDir: string): Promise<string> {
  const file = join(dataDir, "page-token.key");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = randomBytes(32).toString("base64");
  // wx: never overwrite a key another launcher just wrote; 0600: it signs tokens.
  await writeFile(file, `${key}\n`, { flag: "wx", mode: 0o600 }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  return (await readFile(file, "utf8")).trim();
}
