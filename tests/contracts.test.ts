import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectPath } from "../services/platform/db/index.js";
import { runBuf } from "./support/buf-cli.js";
import { treeDifferences } from "./support/file-tree.js";
import { archiveCommittedContracts, generateInto } from "./support/proto-contracts.js";

// proto/ is the only source of API truth: these tests keep gen/ and the committed contracts honest.

/** One finding of buf lint or buf breaking in --error-format json (one JSON object per line). */
interface BufViolation {
  path: string;
  type: string;
  message: string;
}

const violations = (stdout: string): BufViolation[] =>
  stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as BufViolation);

let scratch: string;
let committedTar: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "ordermesh-contracts-"));
  committedTar = join(scratch, "head.tar");
  await archiveCommittedContracts(committedTar);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Copies buf.yaml and proto/ into a fresh folder, rewrites one file there and returns the folder. */
function editedCopy(name: string, file: string, edit: (text: string) => string): string {
  const dir = join(scratch, name);
  cpSync(projectPath("buf.yaml"), join(dir, "buf.yaml"));
  cpSync(projectPath("proto"), join(dir, "proto"), { recursive: true });
  const original = readFileSync(join(dir, file), "utf8");
  const edited = edit(original);
  // Guards the proofs below against an edit that silently matched nothing after a proto change.
  expect(edited).not.toBe(original);
  writeFileSync(join(dir, file), edited);
  return dir;
}

describe("buf lint", () => {
  it("passes with STANDARD and COMMENTS rules, printing nothing", async () => {
    const result = await runBuf(["lint"]);
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("fails on a field without a leading comment (so COMMENTS really guards every client-visible element)", async () => {
    const dir = editedCopy("uncommented", "proto/shipping/v1/shipping.proto", (text) =>
      text.replace(/^\s*\/\/[^\n]*\n(\s*string order_id = \d+;)/m, "$1"),
    );
    const result = await runBuf(["lint", "--error-format", "json"], dir);
    expect(result.code).not.toBe(0);
    expect(violations(result.stdout)).toContainEqual(
      expect.objectContaining({ type: "COMMENT_FIELD", message: expect.stringContaining('"order_id"') }),
    );
  });
});

describe("gen/", () => {
  it("is what `buf generate` makes from proto/ today", async () => {
    const out = join(scratch, "generated");
    await generateInto(out);
    const stale = treeDifferences(join(out, "gen"), projectPath("gen"));
    expect(stale, `gen/ is stale: ${stale.join(", ")} — run npm run generate and commit gen/`).toEqual([]);
  }, 20_000);
});

describe("buf breaking", () => {
  it("finds no breaking change in proto/ against the last commit", async () => {
    const result = await runBuf(["breaking", "--against", committedTar]);
    expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("reports a renumbered field against the last commit", async () => {
    const dir = editedCopy("renumbered", "proto/orders/v1/orders.proto", (text) =>
      text.replace(/int32 quantity = 2;/, "int32 quantity = 7;"),
    );
    const result = await runBuf(["breaking", dir, "--against", committedTar, "--error-format", "json"]);
    expect(result.code).not.toBe(0);
    expect(violations(result.stdout)).toContainEqual(
      expect.objectContaining({ type: "FIELD_NO_DELETE", message: expect.stringContaining('"quantity" on message "LineItem"') }),
    );
  });
});
