import { apiBaseUrl, createOrdersClient } from "./api.js";
import { OrderDetail } from "./order-detail.js";
import { byId, OrderForm } from "./order-form.js";
import { OrderList } from "./order-list.js";
import { OrderWatcher } from "./order-watcher.js";
import { describeRpcError } from "./rpc-error.js";
import { sessionFromToken, signInWithDevIssuer, type Session } from "./session.js";

// Wires the page: sign in, place an order, list a customer's orders, watch the selected order change live.
const baseUrl = apiBaseUrl(window.location);
let session: Session | undefined;
const client = createOrdersClient(baseUrl, () => session?.token);
byId("api-base").textContent = baseUrl;

const orderForm = new OrderForm(byId<HTMLFormElement>("order-form"));
const listForm = byId<HTMLFormElement>("list-form");
const listCustomer = listForm.elements.namedItem("customer_id") as HTMLInputElement;
const listError = byId("list-error");
// The selected order, and whether its watch ended on a final status.
let watched: string | undefined;
let watchEnded = false;
// Cancel shows nothing itself: the change reaches the page through the watch, like every other change.
// DISPATCH_FAILED is final for WatchOrder yet still cancellable, so after cancelling such an order (its
// watch over) the page watches it again, which answers with the cancelled order and ends.
const detail = new OrderDetail(async (id) => {
  try {
    await client.cancelOrder({ id, reason: "cancelled in the web page" });
    if (watchEnded && watched === id) select(id);
  } catch (err) {
    detail.showCancelError(describeRpcError(err, baseUrl).summary);
  }
});
const watcher = new OrderWatcher(client, {
  order(order) {
    detail.show(order);
    list.update(order);
  },
  ended() {
    watchEnded = true;
    detail.showFinal();
  },
  failed: (err, retryInMs) => detail.showWatchError(describeRpcError(err, baseUrl).summary, retryInMs),
});
const list = new OrderList(select);

function select(id: string): void {
  watched = id;
  watchEnded = false;
  list.select(id);
  watcher.watch(id);
}

async function refreshList(): Promise<void> {
  listError.hidden = true;
  try {
    const { orders } = await client.listOrders({ customerId: listCustomer.value.trim(), pageSize: 20 });
    list.show(orders);
  } catch (err) {
    listError.textContent = describeRpcError(err, baseUrl).summary;
    listError.hidden = false;
  }
}

const placeButton = byId<HTMLButtonElement>("place-order");
const placeResult = byId("place-result");
byId<HTMLFormElement>("order-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void (async () => {
    orderForm.clearErrors();
    placeResult.textContent = "";
    const reading = orderForm.read();
    if (!reading.ok) {
      orderForm.showError({ summary: "some fields are not numbers", fields: reading.fields });
      return;
    }
    placeButton.disabled = true;
    try {
      const { order } = await client.createOrder(reading.request);
      if (!order) return;
      placeResult.textContent = `Placed order ${order.id}.`;
      listCustomer.value = order.customerId;
      await refreshList();
      select(order.id);
    } catch (err) {
      orderForm.showError(describeRpcError(err, baseUrl));
    } finally {
      placeButton.disabled = false;
    }
  })();
});

listForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void refreshList();
});

const signInForm = byId<HTMLFormElement>("sign-in-form");
const signedIn = byId("signed-in");
const field = (name: string) => signInForm.elements.namedItem(name) as HTMLInputElement;

function useSession(next: Session): void {
  session = next;
  signedIn.textContent = `Signed in as ${next.customerId || "(token without a subject)"}`;
  listCustomer.value = next.customerId;
  void refreshList();
}

signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void signInWithDevIssuer(field("customer_id").value.trim()).then(useSession, (err: unknown) => {
    signedIn.textContent = `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
  });
});
byId("use-token").addEventListener("click", () => useSession(sessionFromToken(field("token").value.trim())));

const givenToken = new URLSearchParams(window.location.search).get("token");
if (givenToken) useSession(sessionFromToken(givenToken));
