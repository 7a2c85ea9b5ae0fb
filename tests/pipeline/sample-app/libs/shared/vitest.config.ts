import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    coverage: { provider: "v8", reporter: ["text", "lcov", "json-summary"] },
  },
});
