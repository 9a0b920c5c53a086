// Replicas that register themselves and clients that find them: the NATS service API, no registry of our own.
export { announceReplica, readAdvertisedHost, registerReplica, replicaEndpoints } from "./replica-registration.js";
export type { ReplicaAnnouncement, ReplicaEndpoints, ReplicaRegistration } from "./replica-registration.js";
export { createReplicaDiscovery } from "./replica-discovery.js";
export type { ReplicaDiscovery, ReplicaDiscoveryOptions } from "./replica-discovery.js";
export { isNatsServiceTarget, natsServiceChannelOptions, natsServiceScheme } from "./nats-service-resolver.js";
