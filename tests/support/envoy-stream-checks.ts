import { child, children, type ConnectionManagerView, text } from "./envoy-config-model.js";
import { durationSeconds } from "./envoy-json-scalars.js";
import type { ProtoService } from "./envoy-proto-services.js";
import { firstMatchingRoute, virtualHostFor } from "./envoy-route-match.js";

// A server-streaming API method (WatchOrder) lives as long as what it watches. Envoy's defaults would
// cut it: a route timeout of 15 s when none is set, any max_stream_duration, a capped grpc-timeout,
// and the connection manager's 5 minute stream idle timeout for a stream that is silent a while.

/** Problems of the routes that carry the API's server-streaming methods. */
export function streamingRouteProblems(gateway: ConnectionManagerView, services: readonly ProtoService[]): string[] {
  const authority = "localhost:8080";
  const vhost = virtualHostFor(children(child(gateway.config, "route_config"), "virtual_hosts"), authority);
  if (vhost === undefined) return [];
  const problems: string[] = [];
  for (const service of services) {
    for (const method of service.serverStreaming ?? []) {
      const path = `/${service.name}/${method}`;
      const route = firstMatchingRoute(children(vhost, "routes"), { authority, path, headers: { "content-type": "application/grpc" } });
      if (route === undefined) continue; // reported as unrouted by the mesh check
      const where = `${path} (server streaming, route ${text(route, "name") ?? "?"})`;
      const action = child(route, "route");
      const limits = child(action, "max_stream_duration");
      if (durationSeconds(action.timeout) !== 0) {
        problems.push(`${where}: route timeout is ${text(action, "timeout") ?? "unset (Envoy's default 15s)"}; it must be 0s, or it cuts the stream`);
      }
      const cap = durationSeconds(limits.max_stream_duration);
      if (cap !== undefined && cap > 0) problems.push(`${where}: max_stream_duration ${text(limits, "max_stream_duration")} cuts the stream; leave it unset`);
      const headerMax = durationSeconds(limits.grpc_timeout_header_max);
      if (headerMax !== undefined && headerMax > 0) {
        problems.push(`${where}: grpc_timeout_header_max ${text(limits, "grpc_timeout_header_max")} caps the caller's deadline; 0s honours it as sent`);
      }
      const idle = durationSeconds(action.idle_timeout);
      if (idle === undefined) {
        problems.push(`${where}: no idle_timeout, so the connection manager's stream_idle_timeout (default 5 minutes) ends a stream that is silent that long`);
      } else if (idle === 0) {
        problems.push(`${where}: idle_timeout 0s never ends a stream whose client vanished; bound it (e.g. 3600s)`);
      }
    }
  }
  return problems;
}
