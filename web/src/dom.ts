/** An element with text or children, for building table rows without innerHTML. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, content: (string | Node)[] | string = [], className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...(typeof content === "string" ? [content] : content));
  return node;
}

/** A button that runs onClick. */
export function button(label: string, onClick: () => void, className = "secondary"): HTMLButtonElement {
  const b = el("button", label, className);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}
