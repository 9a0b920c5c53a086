import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { formatItems, formatMoney, formatTime, orderStatusClass, orderStatusLabel } from "./format.js";
import { byId } from "./order-form.js";

/** The table of a customer's orders; a click on an order id selects it. */
export class OrderList {
  private readonly rows = byId<HTMLTableSectionElement>("order-rows");
  private readonly empty = byId("orders-empty");
  private selectedId: string | undefined;

  constructor(private readonly onSelect: (id: string) => void) {}

  /** Replaces the table with these orders (newest first, as ListOrders returns them). */
  show(orders: readonly Order[]): void {
    this.rows.replaceChildren(...orders.map((order) => this.row(order)));
    this.empty.hidden = orders.length > 0;
  }

  /** Refreshes one order's row in place, e.g. when watching it saw its status change. */
  update(order: Order): void {
    this.rows.querySelector(`tr[data-order-id="${CSS.escape(order.id)}"]`)?.replaceWith(this.row(order));
  }

  /** Highlights the selected order. */
  select(id: string): void {
    this.selectedId = id;
    for (const row of this.rows.rows) row.classList.toggle("selected", row.dataset.orderId === id);
  }

  private row(order: Order): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.orderId = order.id;
    tr.classList.toggle("selected", order.id === this.selectedId);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = order.id.slice(0, 8);
    open.title = `Watch order ${order.id}`;
    open.addEventListener("click", () => this.onSelect(order.id));
    const status = document.createElement("span");
    status.className = `badge ${orderStatusClass(order.status)}`;
    status.textContent = orderStatusLabel(order.status);
    tr.append(td(formatTime(order.createTime)), td(open), td(formatItems(order)), td(formatMoney(order.totalCents, order.currency)), td(status));
    return tr;
  }
}

function td(content: string | HTMLElement): HTMLTableCellElement {
  const cell = document.createElement("td");
  cell.append(content);
  return cell;
}
