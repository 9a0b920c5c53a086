import { Writable } from "node:stream";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { validateItems } from "../validation/item-validation.js";
import { invalidArgument, maxReportedViolations } from "./rpc-errors.js";
import { bindService, instrumentService } from "./service-impl.js";

// 16 CreateOrders of 100,000 bad lines once grew orders to 1.19 GB: every violation went into the error,
// its details and its log line. Each of those is bounded now, whatever the request holds.
describe("INVALID_ARGUMENT with many violations", () => {
  const violations = Array.from({ length: 100_000 }, (_, i) => ({ field: `items[${i}].sku`, description: "must be 1 to 64 characters" }));

  it(`carries the first ${maxReportedViolations} and one last violation saying how many more`, () => {
    const fields = invalidArgument(violations).findDetails(BadRequestSchema)[0]!.fieldViolations;
    expect(fields).toHaveLength(maxReportedViolations + 1);
    expect(fields.slice(0, maxReportedViolations).map((v) => v.field)).toEqual(violations.slice(0, maxReportedViolations).map((v) => v.field));
    expect(fields.at(-1)).toMatchObject({ field: "request", description: "99980 more invalid fields not listed" });
  });

  it("has a message of a few lines, ending with the count of the rest", () => {
    const error = invalidArgument(violations);
    expect(error.rawMessage.length).toBeLessThan(2000);
    expect(error.rawMessage).toMatch(/items\[19\]\.sku: .*; and 99980 more$/);
  });

  it("is unchanged for a few violations", () => {
    const error = invalidArgument(violations.slice(0, 3));
    expect(error.findDetails(BadRequestSchema)[0]!.fieldViolations).toHaveLength(3);
    expect(error.rawMessage).not.toContain("more");
  });
});

describe("item lists over the count limit", () => {
  it("get the one count violation; the items themselves are not looked at", () => {
    const v: Array<{ field: string; description: string }> = [];
    let checked = 0;
    validateItems(v, Array.from({ length: 100_000 }, () => ({ sku: "", quantity: 0 })), () => checked++);
    expect(v).toEqual([{ field: "items", description: "at most 1000 items" }]);
    expect(checked).toBe(0);
  });

  it("at the limit are still checked one by one", () => {
    const v: Array<{ field: string; description: string }> = [];
    validateItems(v, Array.from({ length: 1000 }, () => ({ sku: "", quantity: 1 })));
    expect(v).toHaveLength(1000);
  });
});

describe("the rpc log line of a failed call", () => {
  it("holds at most about a thousand characters of the error message", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
    const huge = "x".repeat(1_000_000);
    const binding = instrumentService(
      bindService(ShippingService, {
        getShipment: () => {
          throw new ConnectError(huge, Code.FailedPrecondition);
        },
      } as never),
      logger,
    );
    const method = ShippingService.method.getShipment;
    const ctx = createHandlerContext({ service: ShippingService, method, protocolName: "test", requestMethod: "POST", url: "/", requestSignal: new AbortController().signal });
    const impl = binding.impl as unknown as Record<string, (req: unknown, ctx: unknown) => Promise<unknown>>;
    await expect(impl.getShipment!({ id: "x" }, ctx)).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const line = JSON.parse(lines.find((l) => l.includes('"msg":"rpc"'))!) as { error: string };
    expect(line.error.length).toBeLessThan(1100);
    expect(line.error).toMatch(/… \(999000 more characters\)$/);
  });
});
