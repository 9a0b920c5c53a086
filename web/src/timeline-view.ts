import type { TimelineStep } from "./order-timeline.js";

/** Renders the steps into an ordered list: one item per step, the current one marked aria-current. */
export function renderTimeline(list: HTMLOListElement, steps: readonly TimelineStep[], seenAt: ReadonlyMap<string, string>): void {
  list.replaceChildren(
    ...steps.map((s) => {
      const item = document.createElement("li");
      item.dataset.step = s.key;
      item.dataset.state = s.state;
      if (s.state === "current") item.setAttribute("aria-current", "step");
      const label = document.createElement("span");
      label.className = "step-label";
      label.textContent = s.label;
      // Screen readers hear where each step stands; sighted users see it from the marker's style.
      const state = document.createElement("span");
      state.className = "visually-hidden";
      state.textContent = s.state === "done" ? " (done)" : s.state === "current" ? " (now)" : " (next)";
      item.append(label, state);
      if (s.detail) item.append(Object.assign(document.createElement("span"), { className: "step-detail", textContent: s.detail }));
      const seen = seenAt.get(s.key);
      if (seen && s.state !== "upcoming") {
        const time = document.createElement("time");
        time.dateTime = seen;
        time.textContent = new Date(seen).toLocaleTimeString();
        item.append(time);
      }
      return item;
    }),
  );
}
