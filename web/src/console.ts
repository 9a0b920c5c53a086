import type {
  DeadLetterActionAnswer,
  DeadLetterDetailAnswer,
  DeadLetterJson,
  DeadLettersAnswer,
  FailedOutboxAnswer,
  ServicesAnswer,
  TraceAnswer,
  TracesAnswer,
} from "../../services/mesh/console-contract.js";
import { describeError, getJson, postJson } from "./console-client.js";
import { failedOutboxRows, renderDeadLetterDetail, renderDeadLetters } from "./dead-letters-view.js";
import { byId } from "./order-form.js";
import { renderServices } from "./services-view.js";
import { renderTimeline, renderTraceList } from "./trace-view.js";

// The operator console: polls the launcher's /console/api every few seconds and renders what it says.
const refreshMs = 3000;
const params = new URLSearchParams(window.location.search);
let orderFilter = (params.get("order") ?? "").trim();
let openTrace: string | undefined = params.get("trace") ?? undefined;
// Opened from an order (?order=<id>): show its trace as soon as the launcher has received it.
let openFirstMatch = orderFilter !== "" && openTrace === undefined;

const filterForm = byId<HTMLFormElement>("trace-filter");
const filterInput = filterForm.elements.namedItem("order_id") as HTMLInputElement;
filterInput.value = orderFilter;
const actionResult = byId("action-result");

/** Shows err in box (or hides box when there is none). */
function showError(box: HTMLElement, err: unknown): void {
  box.hidden = err === undefined;
  box.textContent = err === undefined ? "" : describeError(err);
}

async function refreshServices(): Promise<void> {
  const box = byId("services-error");
  try {
    const { services } = await getJson<ServicesAnswer>("services");
    renderServices(byId<HTMLTableSectionElement>("service-rows"), services);
    showError(box, undefined);
  } catch (err) {
    showError(box, err);
  }
}

const deadLetterActions = {
  async show(letter: DeadLetterJson) {
    try {
      const detail = await getJson<DeadLetterDetailAnswer>(`dead-letters/${encodeURIComponent(letter.stream)}/${letter.sequence}`);
      renderDeadLetterDetail(byId("dead-letter-detail"), detail);
    } catch (err) {
      actionResult.textContent = `Show failed: ${describeError(err)}`;
    }
  },
  redrive: (letter: DeadLetterJson) => void act("redrive", { refs: [{ stream: letter.stream, sequence: letter.sequence }] }, `${letter.stream} #${letter.sequence}`),
  discard: (letter: DeadLetterJson) => void act("discard", { refs: [{ stream: letter.stream, sequence: letter.sequence }] }, `${letter.stream} #${letter.sequence}`),
};

/** Redrives or discards the selection, says what happened and refreshes at once. */
async function act(action: "redrive" | "discard", selection: unknown, what: string): Promise<void> {
  actionResult.textContent = `${action === "redrive" ? "Redriving" : "Discarding"} ${what}…`;
  try {
    const answer = await postJson<DeadLetterActionAnswer>(`dead-letters/${action}`, selection);
    const done = (answer.redriven ?? answer.discarded ?? []).length;
    const verb = action === "redrive" ? "Redrove" : "Discarded";
    actionResult.textContent = `${verb} ${done} dead letter${done === 1 ? "" : "s"} (${what})${answer.remaining ? `; ${answer.remaining} left, click again` : ""}.`;
    byId("dead-letter-detail").hidden = true;
  } catch (err) {
    actionResult.textContent = `${action === "redrive" ? "Redrive" : "Discard"} failed: ${describeError(err)}`;
  }
  await refreshDeadLetters();
}

async function refreshDeadLetters(): Promise<void> {
  const box = byId("dead-letters-error");
  try {
    const { deadLetters } = await getJson<DeadLettersAnswer>("dead-letters?page_size=200");
    renderDeadLetters(byId<HTMLTableSectionElement>("dead-letter-rows"), deadLetters, deadLetterActions);
    byId("dead-letters-empty").hidden = deadLetters.length > 0;
    showError(box, undefined);
  } catch (err) {
    // Not "no dead letters": the console cannot tell.
    byId("dead-letters-empty").hidden = true;
    showError(box, err);
  }
}

async function retryOutbox(service: string, id: string): Promise<void> {
  try {
    await postJson(`outbox/${service}/retry`, { ids: [id] });
    actionResult.textContent = `Gave ${service}'s outbox event ${id} back to its relay.`;
  } catch (err) {
    actionResult.textContent = `Retry failed: ${describeError(err)}`;
  }
  await refreshOutbox();
}

async function refreshOutbox(): Promise<void> {
  const box = byId("outbox-error");
  const answers = await Promise.allSettled(["orders", "shipping"].map(async (service) => ({ service, answer: await getJson<FailedOutboxAnswer>(`outbox/${service}/failed?page_size=100`) })));
  const rows = answers.flatMap((a) => (a.status === "fulfilled" ? failedOutboxRows(a.value.service, a.value.answer.events, (s, id) => void retryOutbox(s, id)) : []));
  byId<HTMLTableSectionElement>("outbox-rows").replaceChildren(...rows);
  const failed = answers.find((a) => a.status === "rejected");
  byId("outbox-empty").hidden = rows.length > 0 || failed !== undefined;
  showError(box, failed?.status === "rejected" ? failed.reason : undefined);
}

async function refreshTraces(): Promise<void> {
  const note = byId("traces-note");
  try {
    const query = orderFilter ? `?order_id=${encodeURIComponent(orderFilter)}` : "";
    const { tracing, traces } = await getJson<TracesAnswer>(`traces${query}`);
    if (openFirstMatch && traces.length > 0) {
      // The oldest trace of the order is the one its CreateOrder started.
      openTrace = traces[traces.length - 1]!.traceId;
      openFirstMatch = false;
    }
    renderTraceList(byId<HTMLTableSectionElement>("trace-rows"), traces, openTrace, (id) => {
      openTrace = id;
      void refreshTrace();
    });
    note.textContent =
      tracing !== "receiver"
        ? "The launcher keeps no traces: the services export them elsewhere or tracing is off."
        : traces.length === 0
          ? orderFilter
            ? `No trace mentions order ${orderFilter} yet.`
            : "No traces received yet."
          : `${traces.length} trace${traces.length === 1 ? "" : "s"}${orderFilter ? ` of order ${orderFilter}` : ", newest first"}.`;
  } catch (err) {
    note.textContent = describeError(err);
  }
}

async function refreshTrace(): Promise<void> {
  const panel = byId("trace-detail");
  if (!openTrace) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  byId("trace-id").textContent = openTrace;
  try {
    const { spans } = await getJson<TraceAnswer>(`traces/${openTrace}`);
    renderTimeline(byId("trace-timeline"), spans);
    showError(byId("trace-error"), undefined);
  } catch (err) {
    showError(byId("trace-error"), err);
  }
}

filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  orderFilter = filterInput.value.trim();
  openFirstMatch = orderFilter !== "";
  openTrace = undefined;
  void refreshTraces().then(refreshTrace);
});

/** A button that acts only on a second click within 5 s, for what cannot be undone. */
function confirming(id: string, run: () => Promise<void>): void {
  const b = byId<HTMLButtonElement>(id);
  const label = b.textContent ?? "";
  let armed: ReturnType<typeof setTimeout> | undefined;
  b.addEventListener("click", () => {
    if (armed === undefined) {
      b.textContent = `${label}: click again to confirm`;
      armed = setTimeout(() => {
        armed = undefined;
        b.textContent = label;
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = undefined;
    b.textContent = label;
    void run();
  });
}
byId("redrive-all").addEventListener("click", () => void act("redrive", { all: true }, "all"));
confirming("discard-all", () => act("discard", { all: true }, "all"));

async function refresh(): Promise<void> {
  // A console left in a background tab does not keep the services logging its calls every few seconds.
  if (!document.hidden) {
    await Promise.all([refreshServices(), refreshDeadLetters(), refreshOutbox(), refreshTraces().then(refreshTrace)]);
    byId("refresh-state").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }
  setTimeout(() => void refresh(), refreshMs);
}
void refresh();
