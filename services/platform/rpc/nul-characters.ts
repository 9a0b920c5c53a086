import { ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { FieldViolation } from "./rpc-errors.js";

/** How many fields with a NUL character one error names at most. */
export const maxNulViolations = 20;

/**
 * Every string field (map keys included) of a request that holds a NUL character, as violations naming
 * its path ("items[2].sku"). Protobuf allows U+0000 in strings, PostgreSQL text cannot store it: left
 * alone, it fails in the database as an INTERNAL error instead of the caller's INVALID_ARGUMENT.
 */
export function nulCharacterViolations(desc: DescMessage, message: Message): FieldViolation[] {
  const fields: string[] = [];
  collect(desc, message as unknown as Record<string, unknown>, "", fields);
  return fields.map((field) => ({ field, description: "must not contain a NUL character (U+0000)" }));
}

function collect(desc: DescMessage, message: Record<string, unknown>, prefix: string, out: string[]): void {
  for (const field of desc.fields) {
    if (out.length >= maxNulViolations) return;
    const value = valueOf(field, message);
    if (value === undefined) continue;
    const path = prefix + field.name;
    switch (field.fieldKind) {
      case "scalar":
        if (field.scalar === ScalarType.STRING) check(value, path, out);
        break;
      case "message":
        collect(field.message, value as Record<string, unknown>, `${path}.`, out);
        break;
      case "list":
        (value as unknown[]).forEach((item, i) => {
          if (field.listKind === "message") collect(field.message, item as Record<string, unknown>, `${path}[${i}].`, out);
          else if (field.scalar === ScalarType.STRING) check(item, `${path}[${i}]`, out);
        });
        break;
      case "map":
        for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
          const entry = `${path}[${JSON.stringify(key)}]`;
          if (field.mapKey === ScalarType.STRING) check(key, entry, out);
          if (field.mapKind === "message") collect(field.message, item as Record<string, unknown>, `${entry}.`, out);
          else if (field.scalar === ScalarType.STRING) check(item, entry, out);
        }
        break;
      default:
        break;
    }
  }
}

function valueOf(field: DescField, message: Record<string, unknown>): unknown {
  if (!field.oneof) return message[field.localName];
  const selected = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
  return selected?.case === field.localName ? selected.value : undefined;
}

function check(value: unknown, path: string, out: string[]): void {
  if (typeof value === "string" && value.includes("\u0000") && out.length < maxNulViolations) out.push(path);
}
