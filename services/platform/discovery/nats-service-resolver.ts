import * as grpc from "@grpc/grpc-js";
import type { ReplicaDiscovery } from "./replica-discovery.js";

/** The gRPC target scheme of replicas found through the NATS service API: `nats-service:///shipping`. */
export const natsServiceScheme = "nats-service";

// The channel option naming the discovery a channel resolves with; excluded from subchannel arguments,
// so channels of different discoveries still share connections to the same replica.
const discoveryOption = `${grpc.experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}ordermesh.replica_discovery`;
const discoveries = new Map<string, ReplicaDiscovery>();
let nextDiscoveryId = 0;
let registered = false;

/**
 * Channel options that make a grpc-js channel resolve `nats-service:///<name>` targets with this
 * discovery. grpc-js resolvers are classes registered per scheme, so the discovery travels as a channel
 * option naming it; release() forgets it when the channel closes.
 */
export function natsServiceChannelOptions(discovery: ReplicaDiscovery): { options: grpc.ChannelOptions; release(): void } {
  if (!registered) {
    grpc.experimental.registerResolver(natsServiceScheme, NatsServiceResolver);
    registered = true;
  }
  const id = String(nextDiscoveryId++);
  discoveries.set(id, discovery);
  return { options: { [discoveryOption]: id }, release: () => discoveries.delete(id) };
}

/** Whether a target names replicas to discover on NATS rather than an address. */
export function isNatsServiceTarget(target: string): boolean {
  return target.startsWith(`${natsServiceScheme}:`);
}

/**
 * Resolves `nats-service:///<name>` to the replicas answering `$SRV.PING.<name>`, updated whenever the
 * set changes; the channel's load-balancing policy (round_robin, see grpc-js-transport.ts) spreads the
 * calls over them. A failed connection makes grpc-js ask again, which starts a discovery round at once.
 */
class NatsServiceResolver implements grpc.experimental.Resolver {
  private readonly service: string;
  private readonly discovery: ReplicaDiscovery | undefined;
  private unwatch: (() => void) | undefined;

  constructor(
    target: grpc.experimental.GrpcUri,
    private readonly listener: grpc.experimental.ResolverListener,
    options: grpc.ChannelOptions,
  ) {
    this.service = target.path;
    this.discovery = discoveries.get(String(options[discoveryOption]));
  }

  updateResolution(): void {
    const discovery = this.discovery;
    if (!discovery) {
      // Never synchronously with updateResolution (the Resolver contract).
      queueMicrotask(() => this.fail(`no replica discovery configured for ${natsServiceScheme}:///${this.service}`));
      return;
    }
    if (this.unwatch) {
      discovery.refresh(this.service);
      return;
    }
    this.unwatch = discovery.watch(this.service, (addresses) => {
      const endpoints = addresses.flatMap(toEndpoint);
      if (endpoints.length === 0) return this.fail(`no ${this.service} replica answers on the NATS service API`);
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");
    });
  }

  destroy(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    // The service's name: what its certificate names (DNS SAN), and what TLS checks.
    return target.path;
  }

  private fail(details: string): void {
    this.listener(grpc.experimental.statusOrFromError({ code: grpc.status.UNAVAILABLE, details }), {}, null, "");
  }
}

// A registration is anyone's NATS message: one whose address is not host:port is skipped, not fatal.
function toEndpoint(address: string): grpc.experimental.Endpoint[] {
  const split = grpc.experimental.splitHostPort(address);
  if (!split || split.port === undefined) return [];
  return [{ addresses: [{ host: split.host, port: split.port }] }];
}
