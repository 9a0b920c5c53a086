import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ensureSystemPackages, missingRequirements, systemRequirements, type SystemRequirement } from "./system-packages.js";

const absent: SystemRequirement = { pkg: "ordermesh-no-such-package", path: "/nonexistent/ordermesh-tool", neededBy: "this test" };

describe("the test setup's Debian packages", () => {
  it("has installed every program the tests run (the global setup ran before this file)", () => {
    expect(missingRequirements()).toEqual([]);
    for (const r of systemRequirements) expect(existsSync(r.path), r.path).toBe(true);
  });

  it("names a missing program's package", () => {
    expect(missingRequirements([systemRequirements[0]!, absent])).toEqual([absent]);
  });

  it("stops in one line naming the package and the install command when it may not install", () => {
    let error: unknown;
    try {
      ensureSystemPackages([absent], false);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    const { message, stack } = error as Error;
    expect(message).toBe(
      "missing Debian packages: ordermesh-no-such-package (/nonexistent/ordermesh-tool, for this test); install them with: sudo apt-get install -y ordermesh-no-such-package",
    );
    expect(stack).not.toContain("\n");
  });

  it("does nothing when everything is there", () => {
    expect(() => ensureSystemPackages(systemRequirements, false)).not.toThrow();
  });
});
