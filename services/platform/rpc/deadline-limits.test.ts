import { describe, expect, it } from "vitest";
import { clampConnectTimeout, clampGrpcTimeout, maxDeadlineMs } from "./deadline-limits.js";

describe("deadline limits", () => {
  it("keeps grpc-timeout values a timer holds, malformed ones included", () => {
    for (const value of ["100m", "5S", "596H", "2147483S", "99999999u", "abc", "1x"]) expect(clampGrpcTimeout(value)).toBe(value);
  });

  it("lowers longer grpc-timeout values to the longest a timer holds", () => {
    for (const value of ["597H", "720H", "99999999H", "2147484S", "99999999M"]) expect(clampGrpcTimeout(value)).toBe("2147483S");
  });

  it("lowers connect-timeout-ms above the timer range and keeps the rest", () => {
    expect(clampConnectTimeout("2592000000")).toBe(String(maxDeadlineMs));
    expect(clampConnectTimeout("9999999999")).toBe(String(maxDeadlineMs));
    for (const value of ["0", "1500", String(maxDeadlineMs), "-5", "12345678901"]) expect(clampConnectTimeout(value)).toBe(value);
  });
});
