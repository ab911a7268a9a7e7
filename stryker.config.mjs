/**
 * npm run mutate: mutation testing of the core (firmware/core, every file)
 * against the tests in vitest.mutate.config.ts. Prints the score per file and
 * writes reports/mutation/mutation.json. Not part of npm test (minutes, not
 * seconds); the README gives the last score.
 * Stryker 9 (10 needs Node 22). concurrency 2: the machine it was tuned on has 2 cores.
 */
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutate.config.ts", related: false },
  mutate: ["firmware/core/*.ts"],
  coverageAnalysis: "perTest",
  concurrency: 2,
  reporters: ["clear-text", "progress", "json"],
  clearTextReporter: { allowColor: false, logTests: false },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: "reports/mutation/.stryker-tmp",
  ignorePatterns: ["build", "firmware/dist", "reports", ".espfleet", "scratch"],
  timeoutMS: 10000,
};
