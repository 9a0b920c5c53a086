import { ensureDevCertificates } from "./dev-certificates.js";

// `node dist/services/mesh/make-dev-certificates.js <dir> <service>...`: the dev CA and one certificate
// per service in <dir>, made once and kept (docker compose's one-shot "identity" service runs it).
const [dir, ...services] = process.argv.slice(2);
if (!dir || services.length === 0) {
  process.stderr.write("usage: make-dev-certificates <dir> <service>...\n");
  process.exit(2);
}
const certs = await ensureDevCertificates(dir, services);
process.stdout.write(`dev CA ${certs.caFile}; certificates for ${services.join(", ")}\n`);
