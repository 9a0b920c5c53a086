/** Tuning and work of a KeyedScheduler. */
export interface KeyedSchedulerOptions<T> {
  /** Batches running at the same time. */
  concurrency: number;
  /** Items in one batch at most. */
  maxBatch: number;
  /** Items with the same key run one after another in push order; undefined: no constraint. */
  keyOf(item: T): string | undefined;
  /** Works off one batch; must not reject (the caller reports its own failures). */
  run(batch: T[]): Promise<void>;
}

/**
 * Runs pushed items in batches, at most `concurrency` batches at once, each batch holding what is
 * queued when a slot frees (up to maxBatch). A key is in at most one batch at a time and at most once
 * per batch, and its items start in push order: the next item of a key waits until the batch with
 * its predecessor has finished. Items without a key are taken whenever there is room.
 */
export class KeyedScheduler<T> {
  private queue: T[] = [];
  private readonly busyKeys = new Set<string>();
  private readonly runningBatches = new Set<Promise<void>>();
  private runningItems = 0;
  private pumpScheduled = false;
  private roomWaiters: Array<() => void> = [];

  constructor(private readonly options: KeyedSchedulerOptions<T>) {}

  /** Items waiting for a batch. */
  get queued(): number {
    return this.queue.length;
  }

  /** Items in running batches. */
  get running(): number {
    return this.runningItems;
  }

  /**
   * Queues an item. Batches start on the next turn of the event loop rather than at once, so the
   * messages of one pull response, which arrive together, can share a batch.
   */
  push(item: T): void {
    this.queue.push(item);
    this.schedulePump();
  }

  /** Removes and returns everything still queued (to hand it back on stop). */
  drainQueue(): T[] {
    const taken = this.queue;
    this.queue = [];
    this.wakeRoomWaiters();
    return taken;
  }

  /** Resolves once fewer than `limit` items are queued (at once if so already). */
  async waitForRoom(limit: number): Promise<void> {
    while (this.queue.length >= limit) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves when no batch is running. */
  async idle(): Promise<void> {
    while (this.runningBatches.size > 0) await Promise.all(this.runningBatches);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.runningBatches.size < this.options.concurrency && this.queue.length > 0) {
      const batch = this.takeBatch();
      if (batch.length === 0) return; // every queued item waits for a busy key
      this.start(batch);
    }
  }

  /** Takes the oldest runnable items: keys neither running nor already in this batch. */
  private takeBatch(): T[] {
    const batch: T[] = [];
    const rest: T[] = [];
    const inBatch = new Set<string>();
    for (const item of this.queue) {
      if (batch.length === this.options.maxBatch) {
        rest.push(item);
        continue;
      }
      // A key already running or in this batch stays behind, and so does every later item of it.
      const key = this.options.keyOf(item);
      if (key !== undefined && (this.busyKeys.has(key) || inBatch.has(key))) {
        rest.push(item);
        continue;
      }
      if (key !== undefined) inBatch.add(key);
      batch.push(item);
    }
    this.queue = rest;
    return batch;
  }

  private start(batch: T[]): void {
    const keys = batch.map((item) => this.options.keyOf(item)).filter((key): key is string => key !== undefined);
    for (const key of keys) this.busyKeys.add(key);
    this.runningItems += batch.length;
    this.wakeRoomWaiters();
    const done: Promise<void> = this.options.run(batch).finally(() => {
      for (const key of keys) this.busyKeys.delete(key);
      this.runningItems -= batch.length;
      this.runningBatches.delete(done);
      this.pump();
    });
    this.runningBatches.add(done);
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }
}
