/**
 * The tests `npm run mutate` (stryker.config.mjs) runs against each mutant of
 * firmware/core: the core's unit tests and the Node half of the conformance
 * suite. Not the Lua half (it would transpile Stryker's instrumented source)
 * and not test/fuzz: the fuzz compares the core with firmware/dist/cfg.lua,
 * built from the unmutated source, so it would kill every mutant that changes
 * behaviour without any test saying what the behaviour should be.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/unit/config.test.ts",
      "test/unit/node.test.ts",
      "test/unit/outbox.test.ts",
      "test/unit/topic-data.test.ts",
      "test/conformance/conformance.test.ts",
    ],
    env: { ESPFLEET_CONFORMANCE_NODE_ONLY: "1" },
    testTimeout: 30000,
  },
});
