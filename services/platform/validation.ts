const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether s is a canonical UUID (any version), the id format of every entity in ordermesh. */
export function isUuid(s: string): boolean {
  return uuidPattern.test(s);
}
