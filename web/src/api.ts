import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";

/** The typed OrderService client the page uses. */
export type OrdersClient = Client<typeof OrderService>;

/** The API base URL: `?api=` when given (the orders web port locally), else the page's own origin (behind Envoy). */
export function apiBaseUrl(location: Location): string {
  const api = new URLSearchParams(location.search).get("api");
  return (api ?? location.origin).replace(/\/+$/, "");
}

/** An OrderService client speaking the Connect protocol (binary protobuf) to baseUrl, sending token()'s bearer token. */
export function createOrdersClient(baseUrl: string, token: () => string | undefined): OrdersClient {
  const bearer: Interceptor = (next) => (req) => {
    const current = token();
    if (current) req.header.set("authorization", `Bearer ${current}`);
    return next(req);
  };
  // Binary, not JSON: behind Envoy the connect_grpc_bridge turns Connect into gRPC with the same codec,
  // and grpc-js upstreams speak application/grpc+proto only. Every call has a deadline, so a hung
  // upstream shows up as an error instead of a spinner forever.
  return createClient(OrderService, createConnectTransport({ baseUrl, useBinaryFormat: true, defaultTimeoutMs: 10_000, interceptors: [bearer] }));
}
