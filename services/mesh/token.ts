import { parseArgs } from "node:util";
import { ConfigError, readDuration } from "../platform/process/index.js";
import { projectPath } from "../platform/db/index.js";
import { devEmail, loadDevSigner, mintToken } from "./dev-issuer.js";
import { loadMeshConfig } from "./mesh-config.js";

// `npm run token -- <customer-id> [--admin] [--ttl 1h] [--email x]`: a token from the dev issuer of the
// mesh `npm start` runs, printed alone on stdout so `$(npm run -s token -- c-42)` can be pasted into a header.
const usage = "usage: npm run token -- <customer-id> [--admin] [--ttl 1h] [--email <customer-id>@example.com]";

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { admin: { type: "boolean", default: false }, ttl: { type: "string", default: "1h" }, email: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  if (positionals.length !== 1 || positionals[0]!.trim() === "") throw new ConfigError(usage);
  const { dataDir } = loadMeshConfig([], process.env, projectPath("."));
  const signer = await loadDevSigner(dataDir).catch((err: NodeJS.ErrnoException) => {
    throw err.code === "ENOENT" ? new ConfigError(`no dev issuer key in ${dataDir}: run npm start first (MESH_DATA_DIR chooses the data folder)`) : err;
  });
  const customerId = positionals[0]!;
  console.log(await mintToken(signer, { customerId, email: values.email ?? devEmail(customerId), admin: values.admin, ttlSeconds: ttlSeconds(values.ttl) }));
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}

/** --ttl as whole seconds, read like every duration the mesh takes (platform/process/config.ts). */
function ttlSeconds(raw: string): number {
  const seconds = Math.ceil(readDuration({ "--ttl": raw }, "--ttl", 3_600_000) / 1000);
  if (seconds <= 0) throw new ConfigError(`--ttl must be longer than 0, got "${raw}"`);
  return seconds;
}
