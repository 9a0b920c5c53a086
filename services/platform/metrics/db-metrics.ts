import { scrapedGauges } from "./scraped-gauges.js";

const poolGauges = scrapedGauges(
  {
    size: { name: "ordermesh_db_pool_size", help: "Connections the database pool may open (*_DATABASE_POOL)." },
    inUse: { name: "ordermesh_db_pool_in_use", help: "Pool connections busy: top-level queries executing and transactions open, at most the pool size." },
    waiting: {
      name: "ordermesh_db_pool_waiting",
      help: "Queries and transactions beyond the pool's connections: queued, or pipelined behind another query on a busy connection.",
    },
  },
  ["database"],
  0,
);

/** Reports a pool's size and how much of it is in use on every scrape; the returned function stops reporting it. */
export function reportPoolUsage(database: string, size: number, busy: () => number): () => void {
  return poolGauges.add({ database }, () => {
    const now = busy();
    return { size, inUse: Math.min(now, size), waiting: Math.max(0, now - size) };
  });
}
