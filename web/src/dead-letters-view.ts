import type { DeadLetterDetailAnswer, DeadLetterJson, FailedOutboxEventJson } from "../../services/mesh/console-contract.js";
import { button, el } from "./dom.js";

/** What an operator can do with one dead letter. */
export interface DeadLetterActions {
  show(letter: DeadLetterJson): void;
  redrive(letter: DeadLetterJson): void;
  discard(letter: DeadLetterJson): void;
}

/** The dead-letter table: when, where, which consumer gave up and why, with Show, Redrive and Discard. */
export function renderDeadLetters(rows: HTMLTableSectionElement, letters: readonly DeadLetterJson[], actions: DeadLetterActions): void {
  rows.replaceChildren(
    ...letters.map((letter) => {
      const tr = el("tr");
      tr.dataset.stream = letter.stream;
      tr.dataset.sequence = letter.sequence;
      tr.dataset.eventId = letter.eventId;
      const when = letter.deadLetteredAt ? new Date(letter.deadLetteredAt).toLocaleString() : "—";
      const event = el("span", [letter.eventType || "(no ce-type)", el("br"), el("code", letter.originalSubject, "muted")]);
      const buttons = el("span", [button("Show", () => actions.show(letter)), button("Redrive", () => actions.redrive(letter), ""), button("Discard", () => actions.discard(letter))], "actions");
      tr.append(
        el("td", when),
        el("td", [el("code", `${letter.stream} #${letter.sequence}`)]),
        el("td", letter.consumer),
        el("td", [event]),
        el("td", letter.reason, "reason"),
        el("td", String(letter.deliveryCount)),
        el("td", [buttons]),
      );
      return tr;
    }),
  );
}

/** One dead letter in full: headers and payload (decoded as JSON when its schema could read it). */
export function renderDeadLetterDetail(panel: HTMLElement, detail: DeadLetterDetailAnswer): void {
  const { deadLetter: letter } = detail;
  let payload = detail.payloadError ? `could not decode the ${detail.payloadBytes} bytes: ${detail.payloadError}` : detail.payloadJson;
  try {
    if (!detail.payloadError) payload = JSON.stringify(JSON.parse(detail.payloadJson), null, 2);
  } catch {
    // Shown as the server sent it.
  }
  panel.replaceChildren(
    el("h3", [`Dead letter `, el("code", `${letter.stream} #${letter.sequence}`)]),
    el("table", [el("tbody", detail.headers.map((h) => el("tr", [el("th", h.name), el("td", [el("code", h.value)])])))], "headers"),
    el("pre", payload, "payload"),
  );
  panel.hidden = false;
}

/** The table rows of one service's failed outbox events, each with Retry. */
export function failedOutboxRows(service: string, events: readonly FailedOutboxEventJson[], retry: (service: string, id: string) => void): HTMLTableRowElement[] {
  return events.map((event) => {
    const tr = el("tr");
    tr.dataset.eventId = event.id;
    tr.append(
      el("td", service),
      el("td", event.failTime ? new Date(event.failTime).toLocaleString() : "—"),
      el("td", [el("code", event.id)]),
      el("td", event.eventType),
      el("td", [el("code", event.aggregateId)]),
      el("td", `${event.attempts}: ${event.lastError}`, "reason"),
      el("td", [button("Retry", () => retry(service, event.id), "")]),
    );
    return tr;
  });
}
