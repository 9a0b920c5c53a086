import { create } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { HealthCheckResponseSchema, HealthListResponseSchema } from "../../../gen/grpc/health/v1/health_pb.js";
import { CreateOrderRequestSchema } from "../../../gen/orders/v1/orders_pb.js";
import { validCreateOrder } from "../../../tests/support/orders-fixture.js";
import { nulCharacterViolations } from "./nul-characters.js";

const fields = (...args: Parameters<typeof nulCharacterViolations>) => nulCharacterViolations(...args).map((v) => v.field);

describe("nulCharacterViolations", () => {
  it("finds nothing in a request without NUL characters", () => {
    expect(nulCharacterViolations(CreateOrderRequestSchema, validCreateOrder())).toEqual([]);
  });

  it("names nested and repeated string fields by their path, with a description", () => {
    const request = validCreateOrder({
      customerId: "\u0000",
      items: [{ sku: "ok", quantity: 1 }, { sku: "x\u0000", quantity: 1 }],
      shippingAddress: { name: "A", line1: "1", city: "\u0000Paris", postalCode: "1", country: "FR" },
    });
    expect(fields(CreateOrderRequestSchema, request)).toEqual(["customer_id", "items[1].sku", "shipping_address.city"]);
    expect(nulCharacterViolations(CreateOrderRequestSchema, request)[0]?.description).toContain("NUL");
  });

  it("looks into map keys, map values and the selected member of a oneof", () => {
    const list = create(HealthListResponseSchema, { statuses: { "ok.Service": create(HealthCheckResponseSchema), "bad\u0000": create(HealthCheckResponseSchema) } });
    expect(fields(HealthListResponseSchema, list)).toEqual(['statuses["bad\\u0000"]']);
    expect(fields(ValueSchema, create(ValueSchema, { kind: { case: "stringValue", value: "\u0000" } }))).toEqual(["string_value"]);
    expect(fields(ValueSchema, create(ValueSchema, { kind: { case: "numberValue", value: 0 } }))).toEqual([]);
  });
});
