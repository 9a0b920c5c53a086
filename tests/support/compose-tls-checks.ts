import type { LoadedApp } from "./compose-app-checks.js";
import type { ComposeFile, ComposeService } from "./compose-model.js";
import { serviceByImage } from "./compose-service-checks.js";
import { child, children, clusters, connectionManagers, type Json, text } from "./envoy-config-model.js";

// Issue #10 in compose: every container speaks TLS with its own certificate from the mesh CA, and
// Envoy trusts that CA and verifies the same JWTs (issuer, audience, JWKS file) as the services.

const maker = "dist/services/mesh/make-dev-identity.js";

/** Problems of the TLS files, their volume and the JWT settings shared with envoy.yaml. */
export function tlsComposeProblems(compose: ComposeFile, apps: readonly LoadedApp[], bootstrap: Json): string[] {
  const identity = [...compose.services.values()].find((service) => service.command.includes(maker));
  if (identity === undefined) return [`no service runs ${maker}, so no container has a certificate`];
  const dir = identity.command[identity.command.indexOf(maker) + 1] ?? "";
  const volume = identity.volumes.find((v) => v.target === dir)?.source;
  if (volume === undefined) return [`${identity.name}: writes ${dir}, which is on no volume; the services would never see the files`];
  const problems: string[] = [];
  const mountsIdentity = (service: ComposeService) => service.volumes.some((v) => v.source === volume && v.target === dir);
  for (const { app, service } of apps) {
    const env = service.environment;
    const expected = { TLS_CERT_FILE: `${dir}/${app}.crt`, TLS_KEY_FILE: `${dir}/${app}.key`, TLS_CA_FILE: `${dir}/ca.crt` };
    for (const [name, path] of Object.entries(expected)) {
      if (env[name] === undefined) problems.push(`${service.name}: no ${name}, so it speaks plaintext on the compose network`);
      else if (env[name] !== path) problems.push(`${service.name}: ${name} is ${env[name]}; it must be ${path} (each service shows its own certificate)`);
    }
    if (!mountsIdentity(service)) problems.push(`${service.name}: does not mount volume ${volume} at ${dir}, where its TLS files are`);
    if (!identity.command.includes(app)) problems.push(`${identity.name}: makes no certificate for ${app}`);
    if (!(identity.name in service.dependsOn)) problems.push(`${service.name}: does not depend_on ${identity.name}, so it may start before its certificate exists`);
  }
  const envoy = serviceByImage(compose, "envoyproxy/envoy");
  if (envoy === undefined) return problems;
  if (!mountsIdentity(envoy)) problems.push(`${envoy.name}: does not mount volume ${volume} at ${dir} (the CA and JWKS envoy.yaml reads)`);
  for (const cluster of clusters(bootstrap)) {
    const tls = child(child(cluster.config, "transport_socket"), "typed_config");
    const ca = text(child(child(child(tls, "common_tls_context"), "validation_context"), "trusted_ca"), "filename");
    if (ca === undefined) problems.push(`envoy cluster ${cluster.name}: no TLS with trusted_ca, but the services serve TLS`);
    else if (ca !== `${dir}/ca.crt`) problems.push(`envoy cluster ${cluster.name}: trusted_ca is ${ca}, not the mesh CA ${dir}/ca.crt`);
  }
  for (const { service } of apps.filter((a) => "AUTH_ISSUER" in a.service.environment)) {
    for (const provider of jwtProviders(bootstrap)) {
      const env = service.environment;
      if (text(provider, "issuer") !== env.AUTH_ISSUER) problems.push(`${service.name}: AUTH_ISSUER is ${env.AUTH_ISSUER}, envoy's jwt_authn issuer ${text(provider, "issuer")}`);
      const audiences = Array.isArray(provider.audiences) ? provider.audiences : [];
      if (!audiences.includes(env.AUTH_AUDIENCE ?? "ordermesh")) problems.push(`${service.name}: AUTH_AUDIENCE ${env.AUTH_AUDIENCE ?? "ordermesh"} is not among envoy's jwt_authn audiences`);
      const jwks = text(child(provider, "local_jwks"), "filename");
      if (jwks !== undefined && jwks !== env.AUTH_JWKS_FILE) problems.push(`${service.name}: AUTH_JWKS_FILE is ${env.AUTH_JWKS_FILE}, envoy's local_jwks ${jwks}`);
    }
  }
  return problems;
}

function jwtProviders(bootstrap: Json): Json[] {
  return connectionManagers(bootstrap)
    .flatMap((manager) => children(manager.config, "http_filters"))
    .filter((filter) => text(filter, "name") === "envoy.filters.http.jwt_authn")
    .flatMap((filter) => Object.values(child(child(filter, "typed_config"), "providers")) as Json[]);
}
