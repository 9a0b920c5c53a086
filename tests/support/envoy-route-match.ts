import { child, children, type Json, text } from "./envoy-config-model.js";

// Envoy picks the first route whose match fits, so "a route exists for the service" is not enough:
// an earlier catch-all would shadow it. This replays Envoy's matching for the matchers the gateway
// uses and refuses to guess about the others.

/** A request as the router sees it after the gRPC-Web / Connect filters turned it into gRPC. */
export interface RoutedRequest {
  authority: string;
  path: string;
  headers: Readonly<Record<string, string>>;
}

/** The virtual host Envoy would select for an authority (exact, then suffix/prefix wildcards, then "*"). */
export function virtualHostFor(virtualHosts: Json[], authority: string): Json | undefined {
  const host = authority.toLowerCase();
  const domainsOf = (vhost: Json) => (Array.isArray(vhost.domains) ? vhost.domains.map(String) : []);
  return (
    virtualHosts.find((vhost) => domainsOf(vhost).includes(host)) ??
    virtualHosts.find((vhost) => domainsOf(vhost).some((d) => d.startsWith("*") && d !== "*" && host.endsWith(d.slice(1)))) ??
    virtualHosts.find((vhost) => domainsOf(vhost).some((d) => d.endsWith("*") && d !== "*" && host.startsWith(d.slice(0, -1)))) ??
    virtualHosts.find((vhost) => domainsOf(vhost).includes("*"))
  );
}

/** The first route of a virtual host that matches the request, or undefined (Envoy answers 404). */
export function firstMatchingRoute(routes: Json[], request: RoutedRequest): Json | undefined {
  return routes.find((route) => routeMatches(child(route, "match"), request));
}

const modelled = new Set(["prefix", "path", "safe_regex", "path_separated_prefix", "case_sensitive", "headers", "grpc"]);

function routeMatches(match: Json, request: RoutedRequest): boolean {
  const unmodelled = Object.keys(match).filter((key) => !modelled.has(key));
  if (unmodelled.length > 0) throw new Error(`route match uses ${unmodelled.join(", ")}, which this check does not model`);
  const caseSensitive = match.case_sensitive !== false;
  const path = request.path.split("?")[0] ?? "";
  const fold = (s: string) => (caseSensitive ? s : s.toLowerCase());
  const prefix = text(match, "prefix");
  const exact = text(match, "path");
  const separated = text(match, "path_separated_prefix");
  const regex = text(child(match, "safe_regex"), "regex");
  const pathOk =
    (prefix !== undefined && fold(path).startsWith(fold(prefix))) ||
    (exact !== undefined && fold(path) === fold(exact)) ||
    (separated !== undefined && (path === separated || path.startsWith(`${separated}/`))) ||
    (regex !== undefined && fullMatch(regex, path));
  if (!pathOk) return false;
  if ("grpc" in match && !(request.headers["content-type"] ?? "").startsWith("application/grpc")) return false;
  return children(match, "headers").every((matcher) => headerMatches(matcher, request.headers));
}

function headerMatches(matcher: Json, headers: Readonly<Record<string, string>>): boolean {
  const value = headers[(text(matcher, "name") ?? "").toLowerCase()];
  let result: boolean;
  if ("present_match" in matcher) result = (value !== undefined) === (matcher.present_match === true);
  else if ("string_match" in matcher) result = value !== undefined && stringMatches(child(matcher, "string_match"), value);
  else if (Object.keys(matcher).every((key) => key === "name" || key === "invert_match")) result = value !== undefined;
  else throw new Error(`header matcher ${JSON.stringify(matcher)} is not modelled by this check`);
  return matcher.invert_match === true ? !result : result;
}

function stringMatches(matcher: Json, value: string): boolean {
  const fold = (s: string) => (matcher.ignore_case === true ? s.toLowerCase() : s);
  const exact = text(matcher, "exact");
  if (exact !== undefined) return fold(value) === fold(exact);
  const prefix = text(matcher, "prefix");
  if (prefix !== undefined) return fold(value).startsWith(fold(prefix));
  const suffix = text(matcher, "suffix");
  if (suffix !== undefined) return fold(value).endsWith(fold(suffix));
  const contains = text(matcher, "contains");
  if (contains !== undefined) return fold(value).includes(fold(contains));
  const regex = text(child(matcher, "safe_regex"), "regex");
  if (regex !== undefined) return fullMatch(regex, value);
  throw new Error(`string matcher ${JSON.stringify(matcher)} is not modelled by this check`);
}

// Envoy's safe_regex (RE2) must match the whole input; the patterns used here are also valid JS.
function fullMatch(pattern: string, input: string): boolean {
  return new RegExp(`^(?:${pattern})$`, "u").test(input);
}
