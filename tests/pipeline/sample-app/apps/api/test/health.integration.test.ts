import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { server } from "../src/server.js";

// Against APP_URL when a deploy sets it (dev-deploy), else against a local instance (CI).
let api: Server | undefined;
let baseUrl = process.env.APP_URL ?? "";

beforeAll(async () => {
  if (baseUrl) return;
  api = server("integration").listen(0, "127.0.0.1");
  await new Promise((resolve) => api?.once("listening", resolve));
  baseUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(() => {
  api?.close();
});

describe("deployed api", () => {
  it("is healthy", async () => {
    const answer = await fetch(`${baseUrl}/healthz`);
    expect(answer.status).toBe(200);
  });
  it("answers 404 for unknown paths", async () => {
    expect((await fetch(`${baseUrl}/nope`)).status).toBe(404);
  });
});
