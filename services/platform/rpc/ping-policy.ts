import * as http2 from "node:http2";

/** Pings closer together than this count as a strike (gRPC's servers allow one per 5 min without calls). */
export const minPingIntervalMs = 5_000;
/** Strikes after which the connection is closed with GOAWAY ENHANCE_YOUR_CALM, as gRPC servers do. */
export const maxPingStrikes = 2;

/**
 * Cuts an HTTP/2 peer that pings too often: every PING is answered by the server, so a client sending
 * them in a loop makes it work for nothing. grpc-js servers ignore grpc.http2.min_ping_interval_without_data_ms
 * and grpc.http2.max_ping_strikes (client-side options there), so the policy is applied to each session here.
 */
export function enforcePingPolicy(session: http2.ServerHttp2Session): void {
  let last = -Infinity;
  let strikes = 0;
  session.on("ping", () => {
    const now = performance.now();
    if (now - last < minPingIntervalMs && ++strikes > maxPingStrikes) {
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    }
    last = now;
  });
}
