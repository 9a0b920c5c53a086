import type { SmtpSink } from "./smtp-sink.js";

/** An order email's milestone, as its subject names it (services/notifier/order-email.ts). */
export type Milestone = "confirmed" | "shipped" | "delivered" | "cancelled";

const milestones: ReadonlySet<string> = new Set<Milestone>(["confirmed", "shipped", "delivered", "cancelled"]);

/** The milestones of every email the sink received about this order, in the order they arrived (repeats kept). */
export function milestoneEmails(smtp: SmtpSink, orderId: string): Milestone[] {
  const prefix = `Order #${orderId} `;
  return smtp.emails
    .filter((e) => e.subject.startsWith(prefix))
    .map((e) => e.subject.slice(prefix.length))
    .map((m) => {
      if (!milestones.has(m)) throw new Error(`email about order ${orderId} with an unknown subject: ${prefix}${m}`);
      return m as Milestone;
    });
}
