import type protobuf from "protobufjs";
import { durationSeconds, isPlainObject } from "./envoy-json-scalars.js";

// Envoy validates every config message with its protoc-gen-validate annotations before using it
// (e.g. a cluster name must be non-empty, max_ejection_percent <= 100). This applies the rule kinds
// Envoy's API actually uses; rarer ones (email, ip, uri, timestamp bounds) are not modelled.

type Rules = Record<string, unknown>;

/** The merged `(validate.rules)` annotation of a field, or undefined when it has none. */
export function fieldRules(field: protobuf.Field): Rules | undefined {
  let merged: Rules | undefined;
  for (const option of field.parsedOptions ?? []) {
    const rules: unknown = (option as Record<string, unknown>)["(validate.rules)"];
    if (isPlainObject(rules)) merged = { ...merged, ...rules };
  }
  return merged;
}

/** True when a oneof carries `(validate.required) = true`. */
export function oneofRequired(oneof: protobuf.OneOf): boolean {
  return (oneof.parsedOptions ?? []).some((option) => (option as Record<string, unknown>)["(validate.required)"] === true);
}

/** True when the field's rules demand that it be set (message/duration/any/timestamp `required`). */
export function presenceRequired(rules: Rules): boolean {
  return ["message", "duration", "any", "timestamp"].some((kind) => {
    const section = rules[kind];
    return isPlainObject(section) && section.required === true;
  });
}

/** Problems with a set field's value (already normalized proto3 JSON) under its rules. */
export function ruleProblems(rules: Rules, field: protobuf.Field, value: unknown): string[] {
  if (field.map) return mapProblems(section(rules, "map"), value);
  if (field.repeated) return repeatedProblems(section(rules, "repeated"), value);
  return valueProblems(rules, value);
}

function section(rules: Rules, kind: string): Rules {
  const found = rules[kind];
  return isPlainObject(found) ? found : {};
}

function repeatedProblems(rules: Rules, value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const problems: string[] = [];
  if (typeof rules.min_items === "number" && value.length < rules.min_items) {
    problems.push(`needs at least ${rules.min_items} item(s), has ${value.length}`);
  }
  if (typeof rules.max_items === "number" && value.length > rules.max_items) {
    problems.push(`allows at most ${rules.max_items} item(s), has ${value.length}`);
  }
  if (rules.unique === true && new Set(value.map((item) => JSON.stringify(item))).size !== value.length) {
    problems.push("items must be unique");
  }
  const items = section(rules, "items");
  value.forEach((item, index) => problems.push(...valueProblems(items, item).map((p) => `[${index}] ${p}`)));
  return problems;
}

function mapProblems(rules: Rules, value: unknown): string[] {
  if (!isPlainObject(value)) return [];
  const entries = Object.entries(value);
  const problems: string[] = [];
  if (typeof rules.min_pairs === "number" && entries.length < rules.min_pairs) {
    problems.push(`needs at least ${rules.min_pairs} entr(ies), has ${entries.length}`);
  }
  const keys = section(rules, "keys");
  const values = section(rules, "values");
  for (const [key, item] of entries) {
    problems.push(...valueProblems(keys, key).map((p) => `key ${JSON.stringify(key)} ${p}`));
    problems.push(...valueProblems(values, item).map((p) => `[${JSON.stringify(key)}] ${p}`));
  }
  return problems;
}

const numericKinds = ["uint32", "uint64", "int32", "int64", "sint32", "sint64", "fixed32", "fixed64", "double", "float"];

function valueProblems(rules: Rules, value: unknown): string[] {
  const problems: string[] = [];
  if (isPlainObject(rules.string) && typeof value === "string") problems.push(...stringProblems(rules.string, value));
  for (const kind of numericKinds) {
    if (isPlainObject(rules[kind]) && value !== null && value !== undefined) {
      problems.push(...boundProblems(rules[kind], Number(value), String(value), (n) => Number(n)));
    }
  }
  if (isPlainObject(rules.duration)) {
    const seconds = durationSeconds(value);
    if (seconds !== undefined) problems.push(...boundProblems(rules.duration, seconds, String(value), durationRuleSeconds));
  }
  if (isPlainObject(rules.enum) && typeof value === "number") {
    problems.push(...boundProblems(rules.enum, value, String(value), (n) => Number(n)));
  }
  if (isPlainObject(rules.bool) && "const" in rules.bool && value !== rules.bool.const) {
    problems.push(`must be ${String(rules.bool.const)}`);
  }
  if (isPlainObject(rules.any) && Array.isArray(rules.any.in) && isPlainObject(value)) {
    const typeUrl = value["@type"];
    if (!rules.any.in.includes(typeUrl)) problems.push(`@type must be one of ${rules.any.in.join(", ")}`);
  }
  return problems;
}

function durationRuleSeconds(bound: unknown): number {
  if (!isPlainObject(bound)) return 0;
  return Number(bound.seconds ?? 0) + Number(bound.nanos ?? 0) / 1e9;
}

function boundProblems(rules: Rules, actual: number, shown: string, toNumber: (bound: unknown) => number): string[] {
  const problems: string[] = [];
  const check = (name: string, ok: (bound: number) => boolean, words: string) => {
    if (name in rules && !ok(toNumber(rules[name]))) problems.push(`${shown} must be ${words} ${describeBound(rules[name])}`);
  };
  check("gt", (b) => actual > b, ">");
  check("gte", (b) => actual >= b, ">=");
  check("lt", (b) => actual < b, "<");
  check("lte", (b) => actual <= b, "<=");
  check("const", (b) => actual === b, "exactly");
  if (Array.isArray(rules.in) && !rules.in.map(toNumber).includes(actual)) problems.push(`${shown} must be one of ${rules.in.join(", ")}`);
  if (Array.isArray(rules.not_in) && rules.not_in.map(toNumber).includes(actual)) problems.push(`${shown} is not allowed here`);
  return problems;
}

function describeBound(bound: unknown): string {
  return isPlainObject(bound) ? `${durationRuleSeconds(bound)}s` : String(bound);
}

const headerNameStrict = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const headerValueStrict = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const headerLoose = /^[^\u0000\n\r]*$/;

function stringProblems(rules: Rules, value: string): string[] {
  if (rules.ignore_empty === true && value === "") return [];
  const problems: string[] = [];
  const chars = [...value].length;
  const bytes = Buffer.byteLength(value);
  const quoted = JSON.stringify(value);
  if (typeof rules.min_len === "number" && chars < rules.min_len) problems.push(`${quoted} must have at least ${rules.min_len} character(s)`);
  if (typeof rules.max_len === "number" && chars > rules.max_len) problems.push(`${quoted} must have at most ${rules.max_len} characters`);
  if (typeof rules.min_bytes === "number" && bytes < rules.min_bytes) problems.push(`${quoted} must have at least ${rules.min_bytes} byte(s)`);
  if (typeof rules.max_bytes === "number" && bytes > rules.max_bytes) problems.push(`${quoted} must have at most ${rules.max_bytes} bytes`);
  if (typeof rules.prefix === "string" && !value.startsWith(rules.prefix)) problems.push(`${quoted} must start with ${rules.prefix}`);
  if (Array.isArray(rules.in) && !rules.in.includes(value)) problems.push(`${quoted} must be one of ${rules.in.map((v) => JSON.stringify(v)).join(", ")}`);
  if (Array.isArray(rules.not_in) && rules.not_in.includes(value)) problems.push(`${quoted} is not allowed here`);
  if (typeof rules.pattern === "string") {
    const pattern = compile(rules.pattern);
    if (pattern && !pattern.test(value)) problems.push(`${quoted} must match /${rules.pattern}/`);
  }
  const strict = rules.strict !== false;
  if (rules.well_known_regex === "HTTP_HEADER_NAME" && !(strict ? headerNameStrict : headerLoose).test(value)) {
    problems.push(`${quoted} is not a valid HTTP header name`);
  }
  if (rules.well_known_regex === "HTTP_HEADER_VALUE" && !(strict ? headerValueStrict : headerLoose).test(value)) {
    problems.push(`${quoted} is not a valid HTTP header value`);
  }
  return problems;
}

// PGV patterns are RE2; the few Envoy uses are also valid JavaScript. One that is not is skipped
// rather than reported, so an RE2-only construct cannot fail a correct config.
function compile(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, "u");
  } catch {
    return undefined;
  }
}
