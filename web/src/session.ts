/** Who the page acts as: a bearer token and the customer it was issued for. */
export interface Session {
  token: string;
  customerId: string;
}

/**
 * Signs in through the dev issuer of `npm start` (the page server's /dev-token, local only). Behind Envoy
 * there is no such endpoint, and the page uses the token it was given (`?token=` or the token field).
 */
export async function signInWithDevIssuer(customerId: string): Promise<Session> {
  const res = await fetch(`/dev-token?customer=${encodeURIComponent(customerId)}`, { cache: "no-store" });
  if (!res.ok) throw new Error(res.status === 404 ? "this page server has no dev issuer: paste a token instead" : (await res.text()).trim());
  return { token: (await res.text()).trim(), customerId };
}

/** A session from a token someone gave the page; the customer is read from its (unverified here) `sub`. */
export function sessionFromToken(token: string): Session {
  const payload = token.split(".")[1] ?? "";
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: unknown };
    return { token, customerId: typeof claims.sub === "string" ? claims.sub : "" };
  } catch {
    // The server says what is wrong with it on the first call.
    return { token, customerId: "" };
  }
}
