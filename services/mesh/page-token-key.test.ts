import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readSecretKey } from "../platform/process/index.js";
import { localPageTokenKey } from "./page-token-key.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("the local mesh's PAGE_TOKEN_KEY", () => {
  it("is made once, kept private in the data folder, and the same on the next start (tokens survive restarts)", async () => {
    dir = await mkdtemp(join(tmpdir(), "page-token-key-"));
    const first = await localPageTokenKey(dir);
    expect(await localPageTokenKey(dir)).toBe(first);
    // What orders reads from PAGE_TOKEN_KEY must accept it.
    expect(readSecretKey({ PAGE_TOKEN_KEY: first }, "PAGE_TOKEN_KEY", 32)).toHaveLength(32);
    expect((await stat(join(dir, "page-token.key"))).mode & 0o077).toBe(0);
  });
});
