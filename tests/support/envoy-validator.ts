import { parseDocument } from "yaml";
import { loadEnvoyApi } from "./envoy-api-root.js";
import type { Json } from "./envoy-config-model.js";
import { isPlainObject } from "./envoy-json-scalars.js";
import { meshProblems } from "./envoy-mesh-checks.js";
import type { ProtoService } from "./envoy-proto-services.js";
import { checkProtoJson } from "./envoy-proto-json.js";

const bootstrapType = "envoy.config.bootstrap.v3.Bootstrap";

/** Outcome of validating an Envoy bootstrap: the normalized config (proto field names) and all problems. */
export interface EnvoyValidation {
  bootstrap: Json;
  problems: string[];
}

/** Parses envoy.yaml as Envoy's YAML loader would (aliases yes, merge keys no, duplicate keys an error). */
export function parseEnvoyYaml(source: string): unknown {
  // Envoy's yaml-cpp resolves aliases but has no `<<` merge keys; leaving merge off makes a `<<`
  // key surface as the unknown field Envoy would reject.
  const document = parseDocument(source, { merge: false, uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) throw new Error(document.errors.map((error) => error.message).join("\n"));
  return document.toJS({ maxAliasCount: 1000 });
}

/** Validates a parsed bootstrap against Envoy's v3 protos, then against the ordermesh services. */
export function validateEnvoyConfig(config: unknown, services: readonly ProtoService[]): EnvoyValidation {
  const schema = checkProtoJson(loadEnvoyApi(), bootstrapType, config);
  const bootstrap = isPlainObject(schema.normalized) ? schema.normalized : {};
  // The normalized tree has only known fields, so mesh checks still say something useful when the
  // schema check found problems (a typo and a missing route are reported in one run).
  return { bootstrap, problems: [...schema.problems, ...meshProblems(bootstrap, services)] };
}
