// Proto3 JSON forms of scalars and of the well-known types other than Any, as Envoy's JSON parser
// (protobuf's JsonStringToMessage) accepts them. Each check returns an error message or undefined.

const int32Range = [-(2 ** 31), 2 ** 31 - 1] as const;
const uint32Range = [0, 2 ** 32 - 1] as const;
const int64Range = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const uint64Range = [0n, 2n ** 64n - 1n] as const;

/** Describes a JSON value's type the way error messages name it. */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Checks a JSON value against a scalar proto type (int32, string, bytes, ...). */
export function scalarProblem(protoType: string, value: unknown): string | undefined {
  switch (protoType) {
    case "string":
      return typeof value === "string" ? undefined : `expected a string, got ${describeJson(value)}`;
    case "bool":
      return typeof value === "boolean" ? undefined : `expected true or false, got ${describeJson(value)}`;
    case "bytes":
      return typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)
        ? undefined
        : `expected base64 bytes, got ${describeJson(value)}`;
    case "double":
    case "float":
      return numberProblem(value);
    case "int32":
    case "sint32":
    case "sfixed32":
      return integerProblem(value, int32Range, protoType);
    case "uint32":
    case "fixed32":
      return integerProblem(value, uint32Range, protoType);
    case "int64":
    case "sint64":
    case "sfixed64":
      return integerProblem(value, int64Range, protoType);
    case "uint64":
    case "fixed64":
      return integerProblem(value, uint64Range, protoType);
    default:
      return `unsupported scalar type ${protoType}`;
  }
}

function numberProblem(value: unknown): string | undefined {
  if (typeof value === "number") return undefined;
  if (typeof value === "string" && (/^(NaN|-?Infinity)$/.test(value) || (value.trim() !== "" && Number.isFinite(Number(value))))) {
    return undefined;
  }
  return `expected a number, got ${describeJson(value)}`;
}

// Proto3 JSON accepts integers as numbers or decimal strings (64-bit ones usually arrive as strings).
function integerProblem(
  value: unknown,
  [min, max]: readonly [number, number] | readonly [bigint, bigint],
  protoType: string,
): string | undefined {
  let parsed: bigint;
  if (typeof value === "number" && Number.isInteger(value)) parsed = BigInt(value);
  else if (typeof value === "string" && /^-?\d+$/.test(value)) parsed = BigInt(value);
  else return `expected an integer (${protoType}), got ${describeJson(value)}`;
  if (parsed < BigInt(min) || parsed > BigInt(max)) return `${value} is out of range for ${protoType}`;
  return undefined;
}

const wrapperScalars: Readonly<Record<string, string>> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

/** The scalar a wrapper type (google.protobuf.UInt32Value, ...) stands for in JSON, if it is one. */
export function wrappedScalar(typeName: string): string | undefined {
  return wrapperScalars[typeName];
}

const durationPattern = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

/** Seconds in a proto3 JSON Duration such as "0.25s", or undefined when the string is not one. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = durationPattern.exec(value);
  if (!match) return undefined;
  const seconds = Number(match[2]) + Number(`0.${match[3] ?? "0"}`);
  return match[1] ? -seconds : seconds;
}

// The JSON-special well-known types, keyed by full name; Any is handled by the message walker
// because its payload is itself a message.
const wellKnownChecks: Readonly<Record<string, (value: unknown) => string | undefined>> = {
  "google.protobuf.Duration": (value) => {
    const seconds = durationSeconds(value);
    if (seconds === undefined) return `expected a duration string like "1.5s", got ${describeJson(value)}`;
    return Math.abs(seconds) > 315_576_000_000 ? `duration ${String(value)} is out of range` : undefined;
  },
  "google.protobuf.Timestamp": (value) =>
    typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value)
      ? undefined
      : `expected an RFC 3339 timestamp, got ${describeJson(value)}`,
  "google.protobuf.FieldMask": (value) =>
    typeof value === "string" ? undefined : `expected a comma-separated field mask, got ${describeJson(value)}`,
  "google.protobuf.Struct": (value) =>
    isPlainObject(value) ? undefined : `expected an object (google.protobuf.Struct), got ${describeJson(value)}`,
  "google.protobuf.ListValue": (value) =>
    Array.isArray(value) ? undefined : `expected a list (google.protobuf.ListValue), got ${describeJson(value)}`,
  "google.protobuf.Value": (value) => (value === undefined ? "expected a JSON value" : undefined),
  "google.protobuf.Empty": (value) =>
    isPlainObject(value) && Object.keys(value).length === 0 ? undefined : `expected {}, got ${describeJson(value)}`,
};

/** True for well-known types with a special JSON form (inside an Any their JSON sits under "value"). */
export function hasSpecialJson(typeName: string): boolean {
  return wrappedScalar(typeName) !== undefined || typeName in wellKnownChecks;
}

/** Checks a value of a JSON-special well-known type; `handled` false means the type is not one. */
export function wellKnownProblem(typeName: string, value: unknown): { handled: boolean; problem?: string } {
  const scalar = wrappedScalar(typeName);
  if (scalar !== undefined) return { handled: true, problem: scalarProblem(scalar, value) };
  const check = wellKnownChecks[typeName];
  if (check === undefined) return { handled: false };
  return { handled: true, problem: check(value) };
}

/** True for a JSON object (not null, not a list). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
