import { Gauge } from "prom-client";
import { metricsRegistry } from "./registry.js";

/** One source of a gauge family: its labels and a reader of its current values. */
interface Source<V extends string> {
  labels: Record<string, string>;
  read(): Promise<Record<V, number>>;
}

/** A family of gauges read on scrape from sources that come and go (relays, consumers, breakers). */
export interface ScrapedGauges<V extends string> {
  /** Adds a source; the returned function removes it (call it when the component stops). */
  add(labels: Record<string, string>, read: () => Promise<Record<V, number>> | Record<V, number>): () => void;
}

/**
 * Gauges whose values are read when Prometheus scrapes, not pushed on every change: the outbox and
 * JetStream are asked only as often as someone looks. Each source's read is cached for cacheMs, so the
 * gauges of one family share one read per scrape, and a source that fails to answer is left out of
 * that scrape rather than failing /metrics.
 */
export function scrapedGauges<V extends string>(defs: Record<V, { name: string; help: string }>, labelNames: readonly string[], cacheMs = 1000): ScrapedGauges<V> {
  const sources = new Map<number, Source<V>>();
  let nextId = 0;
  for (const key of Object.keys(defs) as V[]) {
    new Gauge({
      name: defs[key].name,
      help: defs[key].help,
      labelNames,
      registers: [metricsRegistry],
      async collect() {
        this.reset();
        const values = await Promise.all([...sources.values()].map((s) => s.read().then((v) => ({ s, v }), () => undefined)));
        for (const entry of values) if (entry) this.set(entry.s.labels, entry.v[key]);
      },
    });
  }
  return {
    add(labels, read) {
      const id = nextId++;
      let cached: { at: number; value: Promise<Record<V, number>> } | undefined;
      sources.set(id, {
        labels,
        read() {
          if (!cached || performance.now() - cached.at > cacheMs) cached = { at: performance.now(), value: Promise.resolve().then(read) };
          return cached.value;
        },
      });
      return () => void sources.delete(id);
    },
  };
}
