import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CreateOrderRequestSchema } from "../../gen/orders/v1/orders_pb.js";
import { parsePrice, priceExample } from "./price-input.js";
import type { FieldProblem, ShownError } from "./rpc-error.js";
import { randomUuid } from "./uuid.js";

/** What CreateOrder takes, as the client accepts it. */
export type CreateOrderInit = MessageInitShape<typeof CreateOrderRequestSchema>;

/** Either a request to send or the fields the page could not even turn into numbers. */
export type FormReading = { ok: true; request: CreateOrderInit } | { ok: false; fields: FieldProblem[] };

/** The "Place an order" form: its item lines, reading it into a request, and showing errors next to it. */
export class OrderForm {
  private readonly rows: HTMLTableSectionElement;
  private readonly errors: HTMLElement;

  constructor(private readonly form: HTMLFormElement) {
    this.rows = byId<HTMLTableSectionElement>("item-rows");
    this.errors = byId("form-errors");
    byId("add-item").addEventListener("click", () => this.addItem("", 1, ""));
    this.addItem("BOOK-1", 2, "12.50");
  }

  /** Appends an item line; fields are named items[i].* like the server's violations, so errors land on them. */
  addItem(sku: string, quantity: number, price: string): void {
    const row = document.createElement("tr");
    row.append(
      cell(input("sku", sku, "text", "SKU")),
      cell(input("quantity", String(quantity), "number", "Quantity")),
      cell(input("unit_price", price, "text", "Unit price")),
    );
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon";
    remove.textContent = "✕";
    remove.setAttribute("aria-label", "Remove line");
    remove.addEventListener("click", () => {
      row.remove();
      this.renumber();
    });
    row.append(cell(remove));
    this.rows.append(row);
    this.renumber();
  }

  /** Reads the form. Quantity and price are only parsed here; whether they are acceptable is the server's call. */
  read(): FormReading {
    const value = (name: string) => (this.form.elements.namedItem(name) as HTMLInputElement | null)?.value.trim() ?? "";
    const problems: FieldProblem[] = [];
    // Prices are typed in the currency's units (500 JPY, 12.50 EUR) and sent in its minor units.
    const currency = value("currency");
    const items = [...this.rows.rows].map((row, i) => {
      const [sku, quantity, price] = [...row.querySelectorAll("input")].map((el) => el.value.trim());
      const parsedQuantity = /^-?\d+$/.test(quantity ?? "") ? Number(quantity) : NaN;
      if (Number.isNaN(parsedQuantity)) problems.push({ field: `items[${i}].quantity`, description: "enter a whole number" });
      const cents = parsePrice(price ?? "", currency);
      if (cents === undefined) problems.push({ field: `items[${i}].unit_price_cents`, description: `enter a price like ${priceExample(currency)}` });
      return { sku: sku ?? "", quantity: parsedQuantity, unitPriceCents: cents ?? 0n };
    });
    if (problems.length > 0) return { ok: false, fields: problems };
    return {
      ok: true,
      request: {
        // The customer is whoever the page signed in as: the server takes id and email from the token.
        customerId: "",
        customerEmail: "",
        currency,
        items,
        shippingAddress: {
          name: value("address_name"),
          line1: value("address_line1"),
          line2: value("address_line2"),
          city: value("address_city"),
          postalCode: value("address_postal_code"),
          country: value("address_country"),
        },
        // One key per submit: a retried request (lost response) returns the same order, not a second one.
        requestId: randomUuid(),
      },
    };
  }

  /** Shows the summary above the form and each field's problem next to its input. */
  showError(error: ShownError): void {
    this.clearErrors();
    const heading = document.createElement("strong");
    heading.textContent = `The order was not placed. ${error.summary}`;
    this.errors.append(heading);
    if (error.fields.length > 0) {
      const list = document.createElement("ul");
      for (const problem of error.fields) {
        const item = document.createElement("li");
        const field = document.createElement("code");
        field.textContent = problem.field;
        item.append(field, ` ${problem.description}`);
        list.append(item);
        this.markField(problem);
      }
      this.errors.append(list);
    }
    this.errors.hidden = false;
  }

  /** Removes every error shown. */
  clearErrors(): void {
    this.errors.replaceChildren();
    this.errors.hidden = true;
    this.form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    this.form.querySelectorAll(".field-error").forEach((el) => el.remove());
  }

  private markField(problem: FieldProblem): void {
    const target = this.form.querySelector<HTMLInputElement>(`[data-field="${CSS.escape(problem.field)}"]`);
    if (!target) return;
    target.setAttribute("aria-invalid", "true");
    const note = document.createElement("span");
    note.className = "field-error";
    note.textContent = problem.description;
    target.insertAdjacentElement("afterend", note);
  }

  private renumber(): void {
    [...this.rows.rows].forEach((row, i) => {
      const [sku, quantity, price] = [...row.querySelectorAll("input")];
      sku?.setAttribute("data-field", `items[${i}].sku`);
      quantity?.setAttribute("data-field", `items[${i}].quantity`);
      price?.setAttribute("data-field", `items[${i}].unit_price_cents`);
    });
  }
}

/** The element with this id; the page's HTML guarantees it exists. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

function input(name: string, value: string, type: string, label: string): HTMLInputElement {
  const el = document.createElement("input");
  el.name = name;
  el.type = type;
  el.value = value;
  el.setAttribute("aria-label", label);
  return el;
}

function cell(child: HTMLElement): HTMLTableCellElement {
  const td = document.createElement("td");
  td.append(child);
  return td;
}
