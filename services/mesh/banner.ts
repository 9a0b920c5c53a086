import type { ServiceEndpoints } from "./child-service.js";
import type { ServiceName } from "./mesh-config.js";

/** What the mesh is running, for the "ready" banner. */
export interface MeshSummary {
  host: string;
  services: Partial<Record<ServiceName, ServiceEndpoints>>;
  postgres: string;
  nats: string;
  emailDir: string | undefined;
  webPageUrl: string | undefined;
  /** The operator console's URL (the page server's /console), when the page is served. */
  consoleUrl?: string | undefined;
  /** Where the services' traces go: the launcher's receiver, the user's endpoint, or off. */
  traces?: string | undefined;
  /** The dev CA that signed the services' certificates (grpcurl -cacert). */
  caFile?: string | undefined;
  /** The simulated carrier's delays as shipping reads them (CARRIER_PICKUP_AFTER, CARRIER_DELIVER_AFTER). */
  carrier?: { pickupAfter: string; deliverAfter: string } | undefined;
}

/** The lines printed once everything is up: endpoints, the web page and ready-to-paste grpcurl commands. */
export function readyBanner(summary: MeshSummary): string[] {
  const { host, services } = summary;
  const lines = ["ordermesh is up", ""];
  for (const [name, endpoints] of Object.entries(services)) {
    const web = endpoints.webPort === undefined ? "" : `, Connect/gRPC-Web http://${host}:${endpoints.webPort}`;
    const metrics = endpoints.metricsPort === undefined ? "" : `, metrics http://${host}:${endpoints.metricsPort}/metrics`;
    lines.push(`  ${name.padEnd(9)} gRPC ${host}:${endpoints.grpcPort}${web}${metrics}`);
  }
  lines.push(`  ${"postgres".padEnd(9)} ${summary.postgres}`, `  ${"nats".padEnd(9)} ${summary.nats}`);
  if (summary.emailDir) lines.push(`  ${"emails".padEnd(9)} .eml files in ${summary.emailDir}`);
  if (summary.caFile) lines.push(`  ${"TLS".padEnd(9)} gRPC ports: TLS by the dev CA ${summary.caFile}; orders -> shipping: mTLS`);
  if (summary.carrier) {
    const { pickupAfter, deliverAfter } = summary.carrier;
    lines.push(
      `  ${"carrier".padEnd(9)} simulated: pickup ${pickupAfter} after creation, delivery ${deliverAfter} after pickup (CARRIER_PICKUP_AFTER, CARRIER_DELIVER_AFTER; "off" stops it)`,
    );
  }
  if (summary.traces) lines.push(`  ${"traces".padEnd(9)} ${summary.traces}`);
  if (summary.webPageUrl) lines.push("", `  web page  ${summary.webPageUrl}`);
  if (summary.consoleUrl) lines.push(`  console   ${summary.consoleUrl}   (operator console: health, metrics, dead letters, traces; this machine only)`);

  const orders = services.orders;
  const auth = `-H "authorization: Bearer $(npm run -s token -- c-1)"`;
  if (orders) {
    const target = `${host}:${orders.grpcPort}`;
    // The customer is the token's subject, so the requests leave customer_id out. The gRPC ports speak
    // TLS; grpcurl verifies them with the dev CA and needs no client certificate.
    const tls = summary.caFile ? `-cacert ${summary.caFile}` : "-plaintext";
    const create = JSON.stringify({
      items: [{ sku: "BOOK-1", quantity: 2, unit_price_cents: 1250 }],
      currency: "EUR",
      shipping_address: { name: "Ada Lovelace", line1: "1 Main St", city: "Berlin", postal_code: "10115", country: "DE" },
    });
    lines.push(
      "",
      "Try (as customer c-1; npm run token -- <customer-id> [--admin] mints a token from this mesh's dev issuer):",
      `  grpcurl ${tls} ${target} list`,
      `  grpcurl ${tls} ${auth} -d '${create}' ${target} orders.v1.OrderService/CreateOrder`,
      `  grpcurl ${tls} ${auth} -d '{"id":"<id from CreateOrder>"}' ${target} orders.v1.OrderService/GetOrder`,
      `  grpcurl ${tls} ${auth} -d '{}' ${target} orders.v1.OrderService/ListOrders`,
      `  grpcurl ${tls} ${auth} -d '{"id":"<id from CreateOrder>"}' ${target} orders.v1.OrderService/WatchOrder   # every change, live`,
    );
    const shipping = services.shipping;
    if (shipping) {
      // The carrier's webhook stand-in: an admin (or the carrier's certificate) reports what happened to a parcel.
      const admin = `-H "authorization: Bearer $(npm run -s token -- ops --admin)"`;
      lines.push(
        `  grpcurl ${tls} ${admin} -d '{"id":"<shipment id>","status":"SHIPMENT_STATUS_DELIVERED"}' ${host}:${shipping.grpcPort} shipping.v1.ShippingService/UpdateShipmentStatus`,
      );
    }
    if (orders.webPort !== undefined) {
      lines.push(`  curl ${auth} -H 'content-type: application/json' -d '{}' http://${host}:${orders.webPort}/orders.v1.OrderService/ListOrders`);
    }
  }
  lines.push("", "Ctrl-C stops everything; the data stays for the next start (npm start -- --reset starts afresh).");
  return lines;
}
