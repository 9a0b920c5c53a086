import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { projectPath } from "../../services/platform/db/index.js";
import { runBuf, runCommand } from "./buf-cli.js";

interface BufGenTemplate {
  plugins: { out: string }[];
}

/** Runs `buf generate` with the project's buf.gen.yaml, but writing below outRoot instead of the project. */
export async function generateInto(outRoot: string): Promise<void> {
  // Only `out` changes, so the plugins, their options and `clean` are exactly what `npm run generate` uses.
  const template = parse(readFileSync(projectPath("buf.gen.yaml"), "utf8")) as BufGenTemplate;
  for (const plugin of template.plugins) plugin.out = join(outRoot, plugin.out);
  mkdirSync(outRoot, { recursive: true });
  const templatePath = join(outRoot, "buf.gen.yaml");
  writeFileSync(templatePath, stringify(template));
  const result = await runBuf(["generate", "--template", templatePath]);
  if (result.code !== 0) throw new Error(`buf generate failed (${result.code}):\n${result.stdout}${result.stderr}`);
}

/** Writes buf.yaml and proto/ as committed at HEAD into a tar file that `buf breaking --against` reads. */
export async function archiveCommittedContracts(tarPath: string): Promise<void> {
  // git archive needs only HEAD's tree, which every clone has — also a shallow (depth 1) or detached
  // CI checkout, where `.git#branch=main` (no local branch) or HEAD~1 (no history) would not resolve.
  const result = await runCommand("git", ["archive", "--format=tar", "-o", tarPath, "HEAD", "--", "buf.yaml", "proto"]);
  if (result.code !== 0) {
    throw new Error(`git archive of HEAD failed (${result.code}); the breaking check needs a git checkout with a commit:\n${result.stderr}`);
  }
}
