import type { ServiceName } from "./mesh-config.js";
import type { ServiceEndpoints } from "./service-runner.js";

/** One running instance of a service. */
export interface ServiceInstance {
  /** The service's name, or with replicas service-<i> (shipping-1, shipping-2...). */
  name: string;
  service: ServiceName;
  endpoints: ServiceEndpoints;
}

/** One NATS server the services use. */
export interface NatsLine {
  /** nats, or nats-<i> for a cluster's node. */
  name: string;
  /** Its client URL. */
  url: string;
  /** The banner's text: where it listens and stores, or that NATS_URL gave it. */
  detail: string;
}

/** What the mesh is running, for the "ready" banner. */
export interface MeshSummary {
  host: string;
  /** Every instance, in start order (shipping, orders, notifier). */
  services: ServiceInstance[];
  postgres: string;
  /** One line per NATS server (one, or each node of a cluster). */
  nats: NatsLine[];
  /** With --nats-cluster: what NATS_URL the services got and the streams' STREAM_REPLICAS. */
  natsCluster?: { url: string; streamReplicas: string } | undefined;
  /** With replicas: the NATS the instances registered on and how orders reaches shipping (SHIPPING_ADDR). */
  discovery?: { natsUrl: string; shippingAddr: string } | undefined;
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
  // Names line up whether or not there are replicas (shipping-2 is the longest common one).
  const width = Math.max(9, ...services.map((s) => s.name.length), ...summary.nats.map((n) => n.name.length));
  for (const { name, endpoints } of services) {
    const web = endpoints.webPort === undefined ? "" : `, Connect/gRPC-Web http://${host}:${endpoints.webPort}`;
    const metrics = endpoints.metricsPort === undefined ? "" : `, metrics http://${host}:${endpoints.metricsPort}/metrics`;
    lines.push(`  ${name.padEnd(width)} gRPC ${host}:${endpoints.grpcPort}${web}${metrics}`);
  }
  lines.push(`  ${"postgres".padEnd(width)} ${summary.postgres}`, ...summary.nats.map((n) => `  ${n.name.padEnd(width)} ${n.detail}`));
  if (summary.natsCluster) {
    const { url, streamReplicas } = summary.natsCluster;
    lines.push(`  ${"".padEnd(width)} a ${summary.nats.length}-node JetStream cluster: the services get NATS_URL=${url} and STREAM_REPLICAS=${streamReplicas}`);
  }
  if (summary.discovery) {
    const { natsUrl, shippingAddr } = summary.discovery;
    lines.push(
      `  ${"discovery".padEnd(width)} every instance registers with the NATS service API (nats micro ls --server ${natsUrl}); orders reaches shipping at ${shippingAddr}`,
    );
  }
  if (summary.emailDir) lines.push(`  ${"emails".padEnd(width)} .eml files in ${summary.emailDir}`);
  if (summary.caFile) lines.push(`  ${"TLS".padEnd(width)} gRPC ports: TLS by the dev CA ${summary.caFile}; orders -> shipping: mTLS`);
  if (summary.carrier) {
    const { pickupAfter, deliverAfter } = summary.carrier;
    lines.push(
      `  ${"carrier".padEnd(width)} simulated: pickup ${pickupAfter} after creation, delivery ${deliverAfter} after pickup (CARRIER_PICKUP_AFTER, CARRIER_DELIVER_AFTER; "off" stops it)`,
    );
  }
  if (summary.traces) lines.push(`  ${"traces".padEnd(width)} ${summary.traces}`);
  if (summary.webPageUrl) lines.push("", `  web page  ${summary.webPageUrl}`);
  if (summary.consoleUrl) lines.push(`  console   ${summary.consoleUrl}   (operator console: health, metrics, dead letters, traces; this machine only)`);

  // The first instance of each keeps the documented ports, so the commands below are the README's.
  const orders = services.find((s) => s.service === "orders")?.endpoints;
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
    const shipping = services.find((s) => s.service === "shipping")?.endpoints;
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
