import { parseArgs } from "node:util";
import { ensureDevCertificates } from "./dev-certificates.js";
import { ensureDevIssuer } from "./dev-issuer.js";

// `node dist/services/mesh/make-dev-identity.js <dir> <service>...`: what `npm start` keeps in its data
// folder, for docker compose's one-shot "identity" service: the dev CA with one certificate per service,
// and the dev issuer's signing key with the JWKS the services and Envoy verify tokens against. Made once
// and kept; `node dist/services/mesh/token.js <customer>` with MESH_DATA_DIR=<dir> mints tokens.
const usage = "usage: make-dev-identity <dir> <service>...\n";
let positionals: string[];
try {
  ({ positionals } = parseArgs({ args: process.argv.slice(2), options: {}, strict: true, allowPositionals: true }));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  process.exit(2);
}
const [dir, ...services] = positionals;
if (!dir || services.length === 0) {
  process.stderr.write(usage);
  process.exit(2);
}
const certs = await ensureDevCertificates(dir, services);
const issuer = await ensureDevIssuer(dir);
process.stdout.write(`dev CA ${certs.caFile}; certificates for ${services.join(", ")}; dev issuer ${issuer.issuer}, JWKS ${issuer.jwksFile}\n`);
