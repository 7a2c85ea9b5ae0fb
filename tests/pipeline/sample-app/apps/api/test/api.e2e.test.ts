import { describe, expect, it } from "vitest";

// End-to-end: always against a deployed app. The deploy workflows set APP_URL (the
// environment's URL); without it there is nothing to test, which is a failure, not a pass.
const baseUrl = process.env.APP_URL ?? "";

describe("released api", () => {
  it("is told where the release runs", () => {
    expect(baseUrl, "APP_URL is not set").not.toBe("");
  });
  it("reports healthy with its version", async () => {
    const answer = await fetch(`${baseUrl}/healthz`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toHaveProperty("version");
  });
  it("answers 404 for unknown paths", async () => {
    expect((await fetch(`${baseUrl}/no-such-page`)).status).toBe(404);
  });
});
