/** What a scraper saw, over its whole life. */
export interface ScrapeTally {
  /** Scrapes answered 200 with a body. */
  ok: number;
  /** Scrapes refused, failed or timed out. */
  failed: number;
  /** Bytes of Prometheus text read, all targets together. */
  bytes: number;
}

/** A running scraper. */
export interface MetricsScraper {
  /** Stops scraping (an answer still on its way is read first) and returns the tally. */
  stop(): Promise<ScrapeTally>;
}

/**
 * GETs every target's /metrics once per interval, as a Prometheus scrape job with that
 * scrape_interval would, so the services' cost of answering scrapes (collecting gauges that query
 * their database, rendering the text) is part of what the benchmark measures. A target is not
 * scraped again while its previous scrape is outstanding; each scrape times out after the interval,
 * as Prometheus' scrape_timeout may not exceed scrape_interval.
 */
export function startMetricsScraper(targets: readonly string[], intervalMs = 1000): MetricsScraper {
  const tally: ScrapeTally = { ok: 0, failed: 0, bytes: 0 };
  const outstanding = new Map<string, Promise<void>>();
  const scrape = (url: string) =>
    fetch(url, { signal: AbortSignal.timeout(intervalMs) })
      .then(async (res) => {
        const text = await res.text();
        if (res.status === 200 && text.length > 0) {
          tally.ok++;
          tally.bytes += Buffer.byteLength(text);
        } else {
          tally.failed++;
        }
      })
      .catch(() => {
        tally.failed++;
      })
      .finally(() => outstanding.delete(url));
  const tick = () => {
    for (const url of targets) if (!outstanding.has(url)) outstanding.set(url, scrape(url));
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(outstanding.values());
      return { ...tally };
    },
  };
}
