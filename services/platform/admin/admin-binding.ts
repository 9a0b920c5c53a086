import type { JetStreamManager } from "@nats-io/jetstream";
import { AdminService } from "../../../gen/admin/v1/admin_pb.js";
import type { FailedOutbox } from "../db/index.js";
import { createDeadLetterStore, isNatsConnected, type DeadLetterStore, type EventFamily, type EventFamilyConfig, type NatsConnection } from "../events/index.js";
import { bindService } from "../rpc/index.js";
import { createAdminService } from "./admin-service.js";

/** AdminService as a service process serves it, before and after its event side connects. */
export interface AdminBinding {
  /** The binding for startServiceHost ("admin-token" access). */
  binding: ReturnType<typeof bindService>;
  /** Called once the process's event side is connected: the dead-letter RPCs work from then on. */
  attach(nc: NatsConnection, jsm: JetStreamManager): void;
}

/**
 * The AdminService of a service process: its own outbox, and the dead letters of every family it is
 * told about (orders and shipping both pass the mesh's two, so either answers for all of them).
 */
export function adminBinding(options: { families: Record<EventFamily, EventFamilyConfig>; outbox: FailedOutbox }): AdminBinding {
  let connected: { nc: NatsConnection; store: DeadLetterStore } | undefined;
  const service = createAdminService({
    deadLetters: () => (connected && isNatsConnected(connected.nc) ? connected.store : undefined),
    outbox: options.outbox,
  });
  return {
    binding: bindService(AdminService, service, "admin-token"),
    attach(nc, jsm) {
      connected = { nc, store: createDeadLetterStore({ jsm, families: options.families }) };
    },
  };
}
