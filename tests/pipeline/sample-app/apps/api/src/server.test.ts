import { describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { server } from "./server.js";

async function started(version: string) {
  const api = server(version).listen(0, "127.0.0.1");
  await new Promise((resolve) => api.once("listening", resolve));
  const { port } = api.address() as AddressInfo;
  return { api, base: `http://127.0.0.1:${port}` };
}

describe("server", () => {
  it("answers /healthz", async () => {
    const { api, base } = await started("1.2.3");
    const answer = await fetch(`${base}/healthz`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: "ok", version: "1.2.3" });
    api.close();
  });

  it("counts answers by status code for the canary analysis", async () => {
    const { api, base } = await started("1.2.3");
    await fetch(`${base}/healthz`);
    await fetch(`${base}/healthz`);
    await fetch(`${base}/missing`);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain("# TYPE http_requests_total counter");
    expect(metrics).toContain('http_requests_total{code="200",method="GET"} 2');
    expect(metrics).toContain('http_requests_total{code="404",method="GET"} 1');
    api.close();
  });
});
