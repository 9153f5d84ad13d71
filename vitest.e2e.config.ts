import { defineConfig } from "vitest/config";

/** Browser tests: run `npx remix vite:build` first; they start the built app in-process. */
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One Chromium at a time: CI machines here have two cores.
    fileParallelism: false,
  },
});
