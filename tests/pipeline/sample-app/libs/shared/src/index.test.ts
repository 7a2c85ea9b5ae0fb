import { describe, expect, it } from "vitest";
import { health } from "./index.js";

describe("health", () => {
  it("is ok unless degraded", () => {
    expect(health("1.0.0")).toEqual({ status: "ok", version: "1.0.0" });
    expect(health("1.0.0", true).status).toBe("degraded");
  });
});
