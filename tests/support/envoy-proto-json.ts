import protobuf from "protobufjs";
import { describeJson, hasSpecialJson, isPlainObject, scalarProblem, wellKnownProblem } from "./envoy-json-scalars.js";
import { fieldRules, oneofRequired, presenceRequired, ruleProblems } from "./envoy-pgv-rules.js";

// protobufjs' fromObject silently drops unknown keys and coerces wrong types, which is exactly what
// must not happen here: Envoy refuses to start on any of those. This walks the JSON against the
// reflection types instead, the way Envoy's loader (JSON -> proto, then PGV validate) does.

/** Result of a strict check: the value with proto field names, and every problem as "path: message". */
export interface ProtoJsonResult {
  normalized: unknown;
  problems: string[];
}

/** Strictly checks `json` as proto3 JSON of message `typeName`, resolving every Any by its @type. */
export function checkProtoJson(root: protobuf.Root, typeName: string, json: unknown): ProtoJsonResult {
  const walker = new ProtoJsonWalker(root);
  const normalized = walker.message(root.lookupType(typeName), json, "");
  return { normalized, problems: walker.problems };
}

const typedStructs = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);

class ProtoJsonWalker {
  readonly problems: string[] = [];

  constructor(private readonly root: protobuf.Root) {}

  message(type: protobuf.Type, value: unknown, path: string): unknown {
    const name = nameOf(type);
    if (name === "google.protobuf.Any") return this.any(value, path);
    const wellKnown = wellKnownProblem(name, value);
    if (wellKnown.handled) {
      if (wellKnown.problem) this.report(path, wellKnown.problem);
      return value;
    }
    if (!isPlainObject(value)) {
      this.report(path, `expected an object (${name}), got ${describeJson(value)}`);
      return value;
    }
    return this.fields(type, value, path, new Set());
  }

  private fields(type: protobuf.Type, value: Record<string, unknown>, path: string, skip: Set<string>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, raw] of Object.entries(value)) {
      if (skip.has(key)) continue;
      const at = joinPath(path, key);
      const field = type.fields[key] ?? jsonNameIndex(type).get(key);
      if (field === undefined) {
        this.report(at, unknownFieldMessage(type, key));
        continue;
      }
      if (field.name in out) {
        this.report(at, `is set twice (as ${field.name} and as ${field.jsonName})`);
        continue;
      }
      if (field.options?.deprecated === true) {
        this.report(at, `is deprecated in ${nameOf(type)}; Envoy warns or refuses to load it, use its replacement`);
      }
      // Proto3 JSON reads null as "not set".
      if (raw === null && !acceptsNull(field)) continue;
      out[field.name] = this.field(field, raw, at);
    }
    this.checkOneofs(type, out, path);
    this.checkRules(type, out, path);
    return out;
  }

  private field(field: protobuf.Field, raw: unknown, path: string): unknown {
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(raw)) {
        this.report(path, `expected an object (map<${field.keyType}, ${field.type}>), got ${describeJson(raw)}`);
        return raw;
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(raw)) {
        const keyProblem = field.keyType === "string" ? undefined : scalarProblem(field.keyType, mapKey(key));
        if (keyProblem) this.report(path, `map key ${JSON.stringify(key)}: ${keyProblem}`);
        out[key] = this.single(field, item, `${path}[${JSON.stringify(key)}]`);
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(raw)) {
        this.report(path, `expected a list of ${field.type}, got ${describeJson(raw)}`);
        return raw;
      }
      return raw.map((item, index) => this.single(field, item, `${path}[${index}]`));
    }
    return this.single(field, raw, path);
  }

  private single(field: protobuf.Field, raw: unknown, path: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, raw, path);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, raw, path);
    const problem = scalarProblem(field.type, raw);
    if (problem) this.report(path, problem);
    return raw;
  }

  private enumValue(enumType: protobuf.Enum, raw: unknown, path: string): unknown {
    const name = nameOf(enumType);
    if (name === "google.protobuf.NullValue" && raw === null) return raw;
    const byNumber = typeof raw === "number" ? Object.entries(enumType.values).find(([, n]) => n === raw)?.[0] : undefined;
    const valueName = typeof raw === "string" && raw in enumType.values ? raw : byNumber;
    if (valueName === undefined) {
      const allowed = Object.keys(enumType.values).join(", ");
      this.report(path, `${describeJson(raw)} is not a value of enum ${name} (one of: ${allowed})`);
      return raw;
    }
    if (enumType.valuesOptions?.[valueName]?.deprecated === true) {
      this.report(path, `enum value ${valueName} of ${name} is deprecated`);
    }
    return valueName;
  }

  private any(value: unknown, path: string): unknown {
    if (!isPlainObject(value)) {
      this.report(path, `expected an object with "@type" (google.protobuf.Any), got ${describeJson(value)}`);
      return value;
    }
    const typeUrl = value["@type"];
    if (typeof typeUrl !== "string" || !typeUrl.includes("/")) {
      this.report(joinPath(path, "@type"), `google.protobuf.Any needs "@type": "type.googleapis.com/<message>", got ${describeJson(typeUrl)}`);
      return value;
    }
    const type = this.lookup(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
    if (type === undefined) {
      this.report(joinPath(path, "@type"), `unknown type ${typeUrl}: no such message in Envoy's v3 API`);
      return value;
    }
    // Types with a special JSON form (Duration, Struct, wrappers...) carry it under "value" inside an Any.
    if (hasSpecialJson(nameOf(type))) {
      for (const key of Object.keys(value)) {
        if (key !== "@type" && key !== "value") this.report(joinPath(path, key), `unknown field in an Any of ${nameOf(type)}`);
      }
      return { "@type": typeUrl, value: this.message(type, value.value, joinPath(path, "value")) };
    }
    const body = this.fields(type, value, path, new Set(["@type"]));
    if (typedStructs.has(nameOf(type))) this.typedStruct(body, path);
    return { "@type": typeUrl, ...body };
  }

  // Envoy unpacks a TypedStruct into the message its type_url names, so its Struct must fit that message.
  private typedStruct(body: Record<string, unknown>, path: string): void {
    const typeUrl = body.type_url;
    if (typeof typeUrl !== "string") return;
    const inner = this.lookup(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
    if (inner === undefined) this.report(joinPath(path, "type_url"), `unknown type ${typeUrl}`);
    else this.message(inner, body.value ?? {}, joinPath(path, "value"));
  }

  private lookup(typeName: string): protobuf.Type | undefined {
    try {
      return this.root.lookupType(typeName);
    } catch {
      return undefined;
    }
  }

  private checkOneofs(type: protobuf.Type, out: Record<string, unknown>, path: string): void {
    for (const oneof of type.oneofsArray) {
      const names = oneof.fieldsArray.map((f) => f.name);
      // proto3 `optional` fields sit in synthetic one-member oneofs; those are not choices.
      if (names.length === 1 && oneof.name === `_${names[0]}`) continue;
      const set = names.filter((name) => name in out);
      if (set.length > 1) this.report(path, `only one of ${names.join(", ")} may be set, got ${set.join(" and ")}`);
      if (set.length === 0 && oneofRequired(oneof)) this.report(path, `one of ${names.join(", ")} is required in ${nameOf(type)}`);
    }
  }

  private checkRules(type: protobuf.Type, out: Record<string, unknown>, path: string): void {
    for (const field of type.fieldsArray) {
      const rules = fieldRules(field);
      if (rules === undefined) continue;
      const at = joinPath(path, field.name);
      const present = field.name in out;
      const isMessage = field.resolvedType instanceof protobuf.Type && !field.repeated && !field.map;
      // PGV skips unset oneof members (the oneof's own rule covers them); it checks other unset
      // scalars at their default value (an unset cluster name is "", too short).
      if (!present && field.partOf !== null) continue;
      if (!present && presenceRequired(rules)) {
        this.report(at, `is required in ${nameOf(type)}`);
        continue;
      }
      if (!present && isMessage) continue;
      const value = present ? out[field.name] : defaultJson(field);
      for (const problem of ruleProblems(rules, field, enumNumber(field, value))) this.report(at, problem);
    }
  }

  private report(path: string, message: string): void {
    this.problems.push(`${path || "(root)"}: ${message}`);
  }
}

function nameOf(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, "");
}

function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function acceptsNull(field: protobuf.Field): boolean {
  return field.type === "google.protobuf.Value" || field.type === "google.protobuf.NullValue";
}

function mapKey(key: string): unknown {
  if (key === "true" || key === "false") return key === "true";
  return key;
}

const jsonNameIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function jsonNameIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = jsonNameIndexes.get(type);
  if (index === undefined) {
    index = new Map(type.fieldsArray.map((field) => [field.jsonName, field]));
    jsonNameIndexes.set(type, index);
  }
  return index;
}

function unknownFieldMessage(type: protobuf.Type, key: string): string {
  if (type.isReservedName(key)) return `field "${key}" was removed from ${nameOf(type)} (it is reserved)`;
  const suggestion = closest(key, type.fieldsArray.map((field) => field.name));
  const hint = suggestion ? ` (did you mean "${suggestion}"?)` : "";
  return `unknown field "${key}" in ${nameOf(type)}${hint}`;
}

function closest(key: string, candidates: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance <= Math.max(2, Math.floor(name.length / 4)) && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function defaultJson(field: protobuf.Field): unknown {
  if (field.map) return {};
  if (field.repeated) return [];
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  if (field.type === "string" || field.type === "bytes") return "";
  if (field.type === "bool") return false;
  return 0;
}

// Enum rules (in / not_in) are written against numbers, while normalized JSON holds names.
function enumNumber(field: protobuf.Field, value: unknown): unknown {
  const enumType = field.resolvedType;
  if (!(enumType instanceof protobuf.Enum)) return value;
  const toNumber = (item: unknown) => (typeof item === "string" ? (enumType.values[item] ?? item) : item);
  return Array.isArray(value) ? value.map(toNumber) : toNumber(value);
}
