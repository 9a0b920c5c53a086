import { expect } from "vitest";
import type { MeshUnderTest } from "./mesh-processes.js";
import type { SmtpSink } from "./smtp-sink.js";
import { waitFor } from "./wait-for.js";
import { validCreateOrder } from "./orders-fixture.js";

/** Places n orders for one customer through the orders gRPC port and returns their ids. */
export async function placeOrders(mesh: MeshUnderTest, n: number, customerId: string): Promise<string[]> {
  const created = await Promise.all(
    Array.from({ length: n }, (_, i) => mesh.orders.createOrder(validCreateOrder({ customerId, requestId: `${customerId}-${i}` }))),
  );
  return created.map((r) => r.order!.id);
}

/** Confirmation emails received for an order (by the subject that names it). */
export function confirmationsOf(smtp: SmtpSink, orderId: string): number {
  return smtp.emails.filter((e) => e.subject === `Order #${orderId} confirmed`).length;
}

/** Distinct confirmation emails of an order, by Message-ID: a resend after a crash carries the first one's id. */
export function distinctConfirmationsOf(smtp: SmtpSink, orderId: string): number {
  return new Set(smtp.emails.filter((e) => e.subject === `Order #${orderId} confirmed`).map((e) => e.messageId)).size;
}

/**
 * Waits until every order has its shipment and its confirmation email, then checks that nothing
 * happened twice: one shipment row per order in shipping's database and one email per order. With
 * `notifierCrashed`, an email may have been delivered again by the replica that took over (the one
 * window SMTP leaves: killed between the server's 250 and the commit, README "Events"), so emails are
 * counted by Message-ID there: each order still has exactly one distinct email.
 */
export async function expectEachOrderShippedAndEmailedOnce(
  mesh: MeshUnderTest,
  smtp: SmtpSink,
  orderIds: readonly string[],
  timeoutMs = 60_000,
  { notifierCrashed = false }: { notifierCrashed?: boolean } = {},
): Promise<void> {
  const shippingSql = await sqlOf(mesh.databases.shipping.url);
  const ordersSql = await sqlOf(mesh.databases.orders.url);
  try {
    await waitFor(
      async () => {
        const rows = await shippingSql`select count(*)::int as n from shipments where order_id = any(${orderIds as string[]}::uuid[])`;
        return rows[0]!.n === orderIds.length && orderIds.every((id) => confirmationsOf(smtp, id) >= 1);
      },
      { timeoutMs, what: `${orderIds.length} shipments and emails` },
    );
    const perOrder = await shippingSql`select order_id, count(*)::int as n from shipments where order_id = any(${orderIds as string[]}::uuid[]) group by order_id`;
    expect(perOrder.every((r) => r.n === 1)).toBe(true);
    const emailsOf = notifierCrashed ? distinctConfirmationsOf : confirmationsOf;
    for (const id of orderIds) expect(emailsOf(smtp, id), `emails for ${id}`).toBe(1);
    // The order itself records the shipment shipping created. That is the dispatcher's last step, after
    // CreateShipment: a dispatch cut off between the two (orders killed mid-flow) records it only on the
    // redelivery after AckWait, so the shipment row can exist a while before the order knows its id.
    // One query for all of them (a rolling update places hundreds), then the API for a sample.
    await waitFor(
      async () => {
        const rows = await ordersSql`select count(*)::int as n from orders where id = any(${orderIds as string[]}::uuid[]) and shipment_id is not null`;
        return rows[0]!.n === orderIds.length;
      },
      { timeoutMs, what: `shipment ids recorded on ${orderIds.length} orders` },
    );
    expect((await mesh.orders.getOrder({ id: orderIds[0]! })).order?.shipmentId).not.toBe("");
  } finally {
    await Promise.all([shippingSql.end(), ordersSql.end()]);
  }
}

async function sqlOf(url: string) {
  const { default: postgres } = await import("postgres");
  return postgres(url, { max: 2, onnotice: () => {} });
}
