// W3C Trace Context (https://www.w3.org/TR/trace-context/): version 00, 16-byte trace id, 8-byte parent id.
const traceparentPattern = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The caller's W3C traceparent header if it is well-formed, else undefined (a bad one is dropped, not propagated). */
export function traceparentOf(headers: Headers): string | undefined {
  const value = headers.get("traceparent")?.trim().toLowerCase();
  return value && traceparentPattern.test(value) ? value : undefined;
}
