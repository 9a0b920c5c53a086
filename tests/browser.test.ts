import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath } from "./setup/system-packages.js";
import { freePort } from "../services/mesh/ports.js";
import { ephemeralServicePorts, startLauncher, type LauncherProcess } from "./support/mesh-launcher.js";
import { createTestDatabase, type TestDatabase, uniqueName } from "./support/test-database.js";

// Layer 3 in a real browser: Debian's Chromium (never a downloaded one) drives the page that `npm start`
// serves, which talks Connect (JSON over fetch, CORS) straight to the orders web port. The test setup
// (tests/setup/system-packages.ts) has installed it when it was missing.
const screenshots = "test-results";

describe("web page in headless Chromium", () => {
  let dataDir: string;
  let databases: TestDatabase[] = [];
  let mesh: LauncherProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const customerId = uniqueName("browser");

  beforeAll(async () => {
    // Faster than the embedded PostgreSQL (no initdb): unique databases on the shared server; a private nats-server.
    databases = await Promise.all(["orders", "shipping", "notifier"].map((s) => createTestDatabase(`browser_${s}`)));
    dataDir = await mkdtemp(join(tmpdir(), "ordermesh-browser-test-"));
    mesh = await startLauncher({
      ORDERS_DATABASE_URL: databases[0]!.url,
      SHIPPING_DATABASE_URL: databases[1]!.url,
      NOTIFIER_DATABASE_URL: databases[2]!.url,
      MESH_DATA_DIR: dataDir,
      MESH_NATS_PORT: String(await freePort()),
      ...ephemeralServicePorts,
    });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await mkdir(screenshots, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    const exit = await mesh?.stop("SIGINT");
    // The mesh's logs are the first thing to read when a step in the page did not happen.
    if (mesh) await writeFile(join(screenshots, "browser-mesh.log"), mesh.output());
    if (mesh) expect(exit).toEqual({ code: 0, signal: null });
    await Promise.all(databases.map((db) => db.drop()));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("is served by the launcher and points at the orders web port", async () => {
    expect(mesh?.webPageUrl).toBeDefined();
    // The bare URL redirects to ?api=<orders web port>, the same page a user opens from the banner.
    const bare = new URL(mesh!.webPageUrl!);
    bare.search = "";
    await page.goto(bare.toString());
    expect(page.url()).toBe(mesh!.webPageUrl);
    expect(await page.locator("#api-base").textContent()).toBe(mesh!.ordersWebUrl);
  });

  it("signs in as a customer of the user's choice through the launcher's dev issuer", async () => {
    await page.locator("#sign-in-form input[name=customer_id]").fill(customerId);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#signed-in").filter({ hasText: `Signed in as ${customerId}` }).waitFor();
    // Signed in, the page lists that customer's orders (none yet) without an error.
    await page.locator("#orders-empty").waitFor();
    expect(await page.locator("#list-error").isVisible()).toBe(false);
  });

  it("places an order, lists it and shows its shipment once shipping created it", async () => {
    await page.getByLabel("SKU").fill("BROWSER-1");
    await page.getByLabel("Quantity").fill("3");
    await page.getByLabel("Unit price").fill("4.20");
    await page.getByRole("button", { name: "Place order" }).click();

    // Either outcome ends the wait, so a server error fails with its own message instead of a timeout.
    await page.locator("#place-result:has-text('Placed order'), #form-errors:visible").first().waitFor();
    expect(await page.locator("#form-errors").isVisible() ? await page.locator("#form-errors").textContent() : "no error").toBe("no error");
    const placed = /Placed order ([0-9a-f-]{36})/.exec((await page.locator("#place-result").textContent()) ?? "")?.[1];
    expect(placed).toBeDefined();
    const row = page.locator(`#order-rows tr[data-order-id="${placed}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("3 × BROWSER-1");
    expect(await page.locator("#list-form input[name=customer_id]").inputValue()).toBe(customerId);
    // The new order is selected and watched: its panel fills in with the first GetOrder answer.
    await page.locator("#detail-id").filter({ hasText: placed! }).waitFor();
    await page.screenshot({ path: join(screenshots, "browser-order-placed.png"), fullPage: true });

    // The page polls GetOrder every second; the outbox -> JetStream -> shipping dispatch moves the order on.
    await page.locator("#detail-status").filter({ hasText: "Shipment requested" }).waitFor({ timeout: 30_000 });
    await page.locator("#detail-tracking").filter({ hasNotText: "—" }).waitFor({ timeout: 10_000 });
    expect((await page.locator("#detail-tracking").textContent())?.trim()).toMatch(/\w{6,}/);
    expect(await page.locator("#detail-shipment").textContent()).toMatch(/waiting for pick-up|in transit|delivered/);
    expect(await row.locator(".badge").textContent()).toBe("Shipment requested");
    await page.screenshot({ path: join(screenshots, "browser-shipment.png"), fullPage: true });
  }, 60_000);

  it("shows the server's validation error next to the form for quantity 0", async () => {
    await page.getByLabel("Quantity").fill("0");
    await page.getByRole("button", { name: "Place order" }).click();

    const errors = page.locator("#form-errors");
    await errors.waitFor({ state: "visible" });
    const text = (await errors.textContent()) ?? "";
    expect(text).toContain("invalid_argument");
    expect(text).toContain("items[0].quantity");
    // The violation from google.rpc.BadRequest lands on the input it names.
    expect(await page.getByLabel("Quantity").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator(".field-error").first().textContent()).toMatch(/between 1 and/);
    await page.screenshot({ path: join(screenshots, "browser-validation-error.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
