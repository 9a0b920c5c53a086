import { isPlainObject } from "./envoy-json-scalars.js";

// Read-only views over a schema-checked, normalized Bootstrap (proto field names, Any kept as an
// object with "@type"). Shapes are already guaranteed by the schema check, so these only pick.

/** A JSON object of the config. */
export type Json = Record<string, unknown>;

/** The type URL prefix Envoy uses for every typed_config. */
export const typeUrl = (typeName: string): string => `type.googleapis.com/${typeName}`;

/** Type URL of the HTTP connection manager network filter. */
export const hcmType = typeUrl("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
/** Key of the upstream HTTP protocol options in a cluster's typed_extension_protocol_options. */
export const http2OptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** The object at `key`, or an empty object. */
export function child(value: unknown, key: string): Json {
  const found = isPlainObject(value) ? value[key] : undefined;
  return isPlainObject(found) ? found : {};
}

/** The objects in the list at `key`, or none. */
export function children(value: unknown, key: string): Json[] {
  const found = isPlainObject(value) ? value[key] : undefined;
  return Array.isArray(found) ? found.filter(isPlainObject) : [];
}

/** The string at `key`, or undefined. */
export function text(value: unknown, key: string): string | undefined {
  const found = isPlainObject(value) ? value[key] : undefined;
  return typeof found === "string" ? found : undefined;
}

/** host:port pairs of a socket address object. */
export function socketAddress(address: unknown): { host: string; port: number } | undefined {
  const socket = child(address, "socket_address");
  const host = text(socket, "address");
  const port = Number(socket.port_value);
  return host === undefined || !Number.isInteger(port) ? undefined : { host, port };
}

/** An upstream cluster with the endpoints it resolves. */
export interface ClusterView {
  name: string;
  config: Json;
  endpoints: { host: string; port: number }[];
}

/** Every static cluster with its endpoint addresses. */
export function clusters(bootstrap: Json): ClusterView[] {
  return children(child(bootstrap, "static_resources"), "clusters").map((cluster) => ({
    name: text(cluster, "name") ?? "",
    config: cluster,
    endpoints: children(child(cluster, "load_assignment"), "endpoints")
      .flatMap((locality) => children(locality, "lb_endpoints"))
      .map((lbEndpoint) => socketAddress(child(child(lbEndpoint, "endpoint"), "address")))
      .filter((address) => address !== undefined),
  }));
}

/** An HTTP connection manager and the listener port it serves. */
export interface ConnectionManagerView {
  listener: string;
  port: number | undefined;
  config: Json;
}

/** Every http_connection_manager in the static listeners. */
export function connectionManagers(bootstrap: Json): ConnectionManagerView[] {
  return children(child(bootstrap, "static_resources"), "listeners").flatMap((listener) =>
    children(listener, "filter_chains")
      .flatMap((chain) => children(chain, "filters"))
      .map((filter) => child(filter, "typed_config"))
      .filter((typedConfig) => typedConfig["@type"] === hcmType)
      .map((config) => ({
        listener: text(listener, "name") ?? "",
        port: socketAddress(child(listener, "address"))?.port,
        config,
      })),
  );
}

/** Splits an Envoy comma-separated header list ("a, b") into lower-case names. */
export function headerList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
}
