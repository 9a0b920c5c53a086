import type { IncomingHttpHeaders } from "node:http";
import { BaseServerInterceptingCall } from "@grpc/grpc-js/build/src/server-interceptors.js";

/**
 * The longest delay a Node.js timer holds (about 24.8 days): a longer one fires after 1 ms, which
 * would turn a caller's generous deadline into an instant DEADLINE_EXCEEDED while the work goes on.
 */
export const maxDeadlineMs = 2 ** 31 - 1;

const grpcTimeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
const grpcTimeoutPattern = /^\s*(\d{1,8})\s*([HMSmun])\s*$/;
const clampedGrpcTimeout = `${Math.floor(maxDeadlineMs / 1000)}S`;

/** A grpc-timeout header value with a longer timeout than a timer holds lowered to the longest one. */
export function clampGrpcTimeout(value: string): string {
  const match = grpcTimeoutPattern.exec(value);
  if (!match) return value; // malformed: left for the protocol layer to refuse
  return Number(match[1]) * grpcTimeoutUnitMs[match[2]!]! > maxDeadlineMs ? clampedGrpcTimeout : value;
}

/** A connect-timeout-ms header value lowered to the longest timeout a timer holds. */
export function clampConnectTimeout(value: string): string {
  return /^\d{1,10}$/.test(value) && Number(value) > maxDeadlineMs ? String(maxDeadlineMs) : value;
}

/**
 * Lowers overlong grpc-timeout and connect-timeout-ms request headers in place, before connect-node reads
 * them. It only ever lowers: a call without either header has no deadline, and none is added here (a
 * server stream such as WatchOrder, started without one, lives until it ends or the caller cancels).
 */
export function clampDeadlineHeaders(headers: IncomingHttpHeaders): void {
  const grpcTimeout = headers["grpc-timeout"];
  if (typeof grpcTimeout === "string") headers["grpc-timeout"] = clampGrpcTimeout(grpcTimeout);
  const connectTimeout = headers["connect-timeout-ms"];
  if (typeof connectTimeout === "string") headers["connect-timeout-ms"] = clampConnectTimeout(connectTimeout);
}

let grpcJsClamped = false;

/**
 * Makes @grpc/grpc-js's server clamp long deadlines too. It reads grpc-timeout with `| 0`, so a timeout
 * of 2^31 ms or more wraps negative and its deadline timer fires at once (grpc-js 1.14.7); its headers
 * are parsed inside the library, before any interceptor, so the fix has to sit on that one method.
 */
export function clampGrpcJsServerDeadlines(): void {
  if (grpcJsClamped) return;
  const proto = BaseServerInterceptingCall.prototype as unknown as { handleTimeoutHeader?: (header: string) => void };
  const original = proto.handleTimeoutHeader;
  if (typeof original !== "function") {
    throw new Error("@grpc/grpc-js no longer has BaseServerInterceptingCall.handleTimeoutHeader: check its deadline handling and update deadline-limits.ts");
  }
  proto.handleTimeoutHeader = function (this: unknown, header: string) {
    original.call(this, clampGrpcTimeout(String(header)));
  };
  grpcJsClamped = true;
}
