import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** Awaits a call that must fail and returns its error as a ConnectError. */
export async function rejection(call: Promise<unknown> | (() => Promise<unknown>)): Promise<ConnectError> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The fields named by the google.rpc.BadRequest details of an error, in order. */
export function badRequestFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
}

/** Asserts INVALID_ARGUMENT whose message and BadRequest details name exactly these fields. */
export async function expectInvalidArgument(call: Promise<unknown> | (() => Promise<unknown>), fields: string[]): Promise<void> {
  const err = await rejection(call);
  expect(Code[err.code]).toBe(Code[Code.InvalidArgument]);
  expect(badRequestFields(err)).toEqual(fields);
  for (const field of fields) expect(err.rawMessage).toContain(field);
}

/** Asserts the call fails with this code. */
export async function expectCode(call: Promise<unknown> | (() => Promise<unknown>), code: Code): Promise<ConnectError> {
  const err = await rejection(call);
  expect(Code[err.code]).toBe(Code[code]);
  return err;
}
