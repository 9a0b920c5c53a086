import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../tests/support/wait-for.js";
import { startMetricsScraper } from "./metrics-scraper.js";

describe("metrics scraper", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function target(status: number): Promise<{ url: string; hits: () => number }> {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(status, { "content-type": "text/plain" }).end("up 1\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, hits: () => hits };
  }

  it("scrapes every target once per interval and tells answers from failures", async () => {
    const good = await target(200);
    const bad = await target(500);
    // Each scrape times out after the interval: long enough that a busy machine (the whole suite on two
    // cores) answers a loopback GET within it, so every hit the targets count is a scrape the tally counts.
    const intervalMs = 250;
    const scraper = startMetricsScraper([good.url, bad.url], intervalMs);
    await waitFor(() => good.hits() >= 3 && bad.hits() >= 3, { what: "three scrapes of each target" });
    const tally = await scraper.stop();
    expect(tally.ok).toBeGreaterThanOrEqual(3);
    expect(tally.failed).toBeGreaterThanOrEqual(3);
    expect(tally.bytes).toBe(tally.ok * "up 1\n".length);
    // Stopped means stopped: no scrape after stop() returned.
    const after = good.hits();
    await new Promise((r) => setTimeout(r, 2.5 * intervalMs));
    expect(good.hits()).toBe(after);
  });
});
