import { describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { server } from "./server.js";

describe("server", () => {
  it("answers /healthz", async () => {
    const api = server("1.2.3").listen(0, "127.0.0.1");
    await new Promise((resolve) => api.once("listening", resolve));
    const { port } = api.address() as AddressInfo;
    const answer = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: "ok", version: "1.2.3" });
    api.close();
  });
});
