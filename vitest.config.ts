import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["engine/**/*.test.ts", "actors/**/*.test.ts", "transport/**/*.test.ts", "storage/**/*.test.ts", "bench/**/*.test.ts", "test/**/*.test.ts", "readers/**/*.test.ts"],
    testTimeout: 60_000,
    setupFiles: ["test/event-loop.setup.ts"],
    // A test that asserts nothing passes on a stub: each must make at least one assertion.
    expect: { requireAssertions: true },
  },
})
