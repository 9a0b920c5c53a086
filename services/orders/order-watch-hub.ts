import { Code, ConnectError } from "@connectrpc/connect";
import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { decodeEvent, type NatsConnection } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";

/** What the hub needs besides the NATS connection it is attached to later. */
export interface OrderWatchHubOptions {
  /** Subject prefix of orders' events (EVENTS_SUBJECT_PREFIX): the hub subscribes to `<prefix>.>`. */
  subjectPrefix: string;
  /** Watchers this process serves at once (MAX_WATCHERS); one more is RESOURCE_EXHAUSTED. */
  maxWatchers: number;
  /** The order as orders' database has it now; read again for every watched order after a NATS reconnect. */
  readOrder(id: string): Promise<Order | undefined>;
  logger: Logger;
  /** Orders one watcher may have waiting before it is coalesced to the latest (default 8). */
  bufferSize?: number;
}

/** One caller watching one order: the states it has not been sent yet, oldest first. */
export interface OrderWatcher {
  /** Queues the order unless it is not newer than the last one queued (or sent). */
  offer(order: Order): void;
  /** The next newer state; rejects with signal's reason when it aborts, or when the hub closes. */
  next(signal: AbortSignal): Promise<Order>;
  /** Unregisters the watcher (idempotent). */
  close(): void;
}

// Re-reads after a reconnect share the database pool with every RPC; a few at a time leave room for them.
const refreshConcurrency = 4;
const defaultBufferSize = 8;

/**
 * Fans orders' events out to the callers watching each order. Each orders process holds one core NATS
 * subscription on `<prefix>.>` (every orders event carries the whole Order), not one per watcher and
 * no database poll: an event for an order nobody here watches costs a map lookup. A watcher registers
 * before its caller reads the order from the database, so no change between that read and the first
 * event is missed; each watcher only ever gets states newer than the last one it got (Order.version,
 * then update_time), so a re-read or a redelivered event never goes backwards. After NATS comes back
 * from a disconnect every watched order is read from the database once: events published meanwhile
 * reached JetStream but not this core subscription.
 */
export class OrderWatchHub {
  private readonly byOrder = new Map<string, Set<Watcher>>();
  private watchers = 0;
  private attached = false;
  private closed = false;
  private subscription: { unsubscribe(): void } | undefined;
  private statuses: AsyncIterable<unknown> | undefined;
  private readonly bufferSize: number;

  constructor(private readonly options: OrderWatchHubOptions) {
    this.bufferSize = options.bufferSize ?? defaultBufferSize;
  }

  /** Watchers registered right now. */
  get size(): number {
    return this.watchers;
  }

  /** Subscribes on the connection; watch() works once this resolves (the server has the subscription). */
  async attach(nc: NatsConnection): Promise<void> {
    if (this.attached || this.closed) return;
    this.subscription = nc.subscribe(`${this.options.subjectPrefix}.>`, {
      callback: (err, msg) => {
        if (err) this.options.logger.warn({ err }, "order watch subscription error");
        else this.deliver(msg.subject, msg.data);
      },
    });
    try {
      await nc.flush();
    } catch (err) {
      // Disconnected right away: nats.js re-sends the subscription on reconnect, and then every watched order is re-read.
      this.options.logger.warn({ err }, "order watch subscription not confirmed yet");
    }
    if (this.closed) return this.subscription.unsubscribe();
    this.attached = true;
    this.options.logger.info({ subject: `${this.options.subjectPrefix}.>`, maxWatchers: this.options.maxWatchers }, "order watch hub subscribed");
    void this.refreshAfterReconnects(nc);
  }

  /**
   * Registers a watcher of one order. UNAVAILABLE until attached (orders connects to NATS in the
   * background) and after close; RESOURCE_EXHAUSTED past maxWatchers.
   */
  watch(orderId: string): OrderWatcher {
    if (this.closed) throw new ConnectError("this orders process is shutting down; watch again", Code.Unavailable);
    if (!this.attached) {
      throw new ConnectError("order updates are not available yet: this orders process is still connecting to NATS; retry shortly", Code.Unavailable);
    }
    if (this.watchers >= this.options.maxWatchers) {
      throw new ConnectError(`this orders process already serves ${this.options.maxWatchers} watchers (MAX_WATCHERS); retry later`, Code.ResourceExhausted);
    }
    const watcher = new Watcher(this.bufferSize, () => this.remove(orderId, watcher));
    let set = this.byOrder.get(orderId);
    if (!set) this.byOrder.set(orderId, (set = new Set()));
    set.add(watcher);
    this.watchers++;
    return watcher;
  }

  /** Unsubscribes and ends every watcher with UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.unsubscribe();
    // nats.js's status iterator ends on stop() (it also ends when the connection closes).
    (this.statuses as { stop?: () => void } | undefined)?.stop?.();
    const reason = new ConnectError("this orders process is shutting down; watch again", Code.Unavailable);
    for (const set of this.byOrder.values()) for (const watcher of set) watcher.fail(reason);
  }

  private remove(orderId: string, watcher: Watcher): void {
    const set = this.byOrder.get(orderId);
    if (!set?.delete(watcher)) return;
    this.watchers--;
    if (set.size === 0) this.byOrder.delete(orderId);
  }

  private deliver(subject: string, data: Uint8Array): void {
    if (this.byOrder.size === 0) return; // the common case: nothing to decode for
    const decoded = decodeEvent("orders", this.options.subjectPrefix, subject, data);
    if ("unknown" in decoded) return;
    if ("poison" in decoded) return this.options.logger.debug({ subject, problem: decoded.poison }, "order watch skipped an event");
    const watchers = this.byOrder.get(decoded.orderId);
    const order = watchers && "order" in decoded.event ? decoded.event.order : undefined;
    if (order) for (const watcher of watchers!) watcher.offer(order);
  }

  private async refreshAfterReconnects(nc: NatsConnection): Promise<void> {
    const statuses = nc.status();
    this.statuses = statuses;
    for await (const status of statuses) {
      if (this.closed) return;
      if (status.type !== "reconnect") continue;
      // The flush proves the server has the re-sent subscription, so a change after the re-read arrives as an event.
      try {
        await nc.flush();
      } catch {
        continue; // gone again; the next reconnect re-reads
      }
      await this.refreshAll();
    }
  }

  private async refreshAll(): Promise<void> {
    const ids = [...this.byOrder.keys()];
    this.options.logger.info({ orders: ids.length, watchers: this.watchers }, "nats reconnected: re-reading watched orders");
    const work = async () => {
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        try {
          const order = await this.options.readOrder(id);
          if (order) for (const watcher of this.byOrder.get(id) ?? []) watcher.offer(order);
        } catch (err) {
          this.options.logger.warn({ orderId: id, err }, "watched order not re-read after the reconnect");
        }
      }
    };
    await Promise.all(Array.from({ length: refreshConcurrency }, work));
  }
}

class Watcher implements OrderWatcher {
  private queue: Order[] = [];
  private newest: Order | undefined;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly bufferSize: number,
    private readonly unregister: () => void,
  ) {}

  offer(order: Order): void {
    if (this.newest && !isNewer(order, this.newest)) return;
    this.newest = order;
    // A caller that cannot keep up needs where the order is now, not every step it missed: it is a state stream.
    if (this.queue.length >= this.bufferSize) this.queue = [];
    this.queue.push(order);
    this.wake?.();
  }

  async next(signal: AbortSignal): Promise<Order> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (signal.aborted) throw signal.reason;
      const order = this.queue.shift();
      if (order) return order;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        this.wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  fail(reason: unknown): void {
    this.failure = reason;
    this.wake?.();
  }

  close(): void {
    this.unregister();
  }
}

/** Whether a is a later state of the order than b: a higher version, or (versions equal) a later update_time. */
export function isNewer(a: Order, b: Order): boolean {
  if (a.version !== b.version) return a.version > b.version;
  return nanosOf(a) > nanosOf(b);
}

function nanosOf(order: Order): bigint {
  const t = order.updateTime;
  return t ? t.seconds * 1_000_000_000n + BigInt(t.nanos) : 0n;
}
