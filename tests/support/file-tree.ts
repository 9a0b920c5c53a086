import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Lists every file below root as a root-relative path with forward slashes, sorted. */
export function listFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split("\\").join("/"))
    .sort();
}

/** Names the files that are missing, extra or different in actual compared to expected, byte for byte. */
export function treeDifferences(expected: string, actual: string): string[] {
  const want = new Set(listFiles(expected));
  const have = new Set(listFiles(actual));
  const problems: string[] = [];
  for (const file of want) {
    if (!have.has(file)) problems.push(`${file} (missing)`);
    else if (!readFileSync(join(expected, file)).equals(readFileSync(join(actual, file)))) problems.push(`${file} (differs)`);
  }
  for (const file of have) if (!want.has(file)) problems.push(`${file} (not generated from proto/)`);
  return problems.sort();
}
