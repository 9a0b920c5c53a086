import type { PartStatus, ServiceNumbers } from "../../services/mesh/console-contract.js";
import { el } from "./dom.js";

/** The services table: every process the launcher started, its addresses, health and numbers from /metrics. */
export function renderServices(rows: HTMLTableSectionElement, parts: readonly PartStatus[]): void {
  rows.replaceChildren(...parts.map(partRow));
}

function partRow(part: PartStatus): HTMLTableRowElement {
  const tr = el("tr");
  tr.dataset.service = part.name;
  const healthy = part.health === "SERVING" || part.health === "UP";
  const health = el("span", part.health, `badge ${healthy ? "health-ok" : "health-bad"}`);
  health.dataset.health = part.health;
  const addresses = el(
    "ul",
    Object.entries(part.addresses).map(([role, address]) => {
      const value = address.startsWith("http") ? link(address) : el("code", address);
      return el("li", [`${role} `, value]);
    }),
    "plain",
  );
  const numbers = part.numbers ? numberCells(part.numbers) : [el("td", part.numbersError ? `metrics unreadable: ${part.numbersError}` : "—", "muted"), el("td"), el("td")];
  tr.append(el("td", [el("strong", part.name)]), el("td", [health]), el("td", [addresses]), ...numbers, el("td", part.numbers?.rssBytes === undefined ? "—" : `${Math.round(part.numbers.rssBytes / 1048576)} MiB`));
  return tr;
}

function link(href: string): HTMLAnchorElement {
  const a = el("a", href);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener";
  return a;
}

/** Outbox, consumers and breakers, one cell each. */
function numberCells(n: ServiceNumbers): HTMLTableCellElement[] {
  const outbox = n.outbox.map((o) => {
    const li = el("li", `${o.family}: ${o.backlog} waiting, oldest ${o.oldestAgeSeconds.toFixed(1)} s${o.failed ? `, ${o.failed} failed` : ""}`);
    li.dataset.outbox = o.family;
    li.dataset.backlog = String(o.backlog);
    if (o.failed > 0 || o.oldestAgeSeconds > 30) li.className = "error-text";
    return li;
  });
  const consumers = n.consumers.map((c) => {
    const lag = c.pending === undefined ? "" : `pending ${c.pending}, ack-pending ${c.ackPending ?? 0}, redelivered ${c.redelivered ?? 0}; `;
    const li = el("li", `${c.consumer} (${c.stream}): ${lag}handled ${c.handled}, retried ${c.retried}, dead-lettered ${c.deadLettered}`);
    li.dataset.consumer = c.consumer;
    if (c.deadLettered > 0) li.className = "error-text";
    return li;
  });
  const breakers = n.breakers.map((b) => {
    const li = el("li", `${b.upstream}: ${b.state}`);
    li.dataset.breaker = b.upstream;
    li.dataset.state = b.state;
    if (b.state !== "closed") li.className = "error-text";
    return li;
  });
  const cell = (items: HTMLLIElement[]) => el("td", items.length ? [el("ul", items, "plain")] : "—");
  return [cell(outbox), cell(consumers), cell(breakers)];
}
