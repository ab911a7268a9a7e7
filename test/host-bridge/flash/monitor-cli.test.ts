/**
 * `espfleet monitor` as a person runs it (a child process, stdin not a
 * terminal) against a virtual ESP8266 on a pty.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVirtualBoard, type VirtualBoard } from "../../../host-bridge/flash/virtual-board";
import { waitFor } from "../../device/support/brokers";
import { espfleet } from "./support/cli-run";

let board: VirtualBoard;

beforeAll(async () => {
  board = await startVirtualBoard({ heapKb: 96, embeddedBroker: false, log: () => undefined });
});

afterAll(async () => {
  await board?.stop();
});

describe("espfleet monitor", () => {
  it("--reset on a pty falls back to node.restart(), --run runs after the reboot, errors are marked, Ctrl-C exits 0", async () => {
    const boots = board.device.stats.boots;
    const run = espfleet(["monitor", "--port", board.portPath, "--reset", "--run", "print('ran-'..(6*7)) error('oops-'..1)"]);
    try {
      const state = await waitFor(
        "the --run output",
        () => (run.stdout().includes("!! Lua error: stdin:1: oops-1") ? "shown" : run.child.exitCode !== null ? "exited" : undefined),
        40_000,
      ).catch((error: Error) => error.message);
      if (state !== "shown") {
        throw new Error(`${state === "exited" ? `espfleet monitor exited (${run.child.exitCode})` : state}; stdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`);
      }
      expect(run.stdout()).toMatch(/^ran-42$/m);
      expect(run.stdout()).toContain("NodeMCU 3.0.0.0");
      expect(run.stderr()).toMatch(/cannot pulse DTR\/RTS.*node\.restart\(\)/);
      expect(board.device.stats.boots).toBeGreaterThan(boots);
      run.child.kill("SIGINT");
      expect(await run.exited).toBe(130);  // Ctrl-C: 130, as every command (issue 12)
      expect(run.stderr()).toMatch(/interrupted: \d+ lines, [1-9]\d* marked as errors/);
    } finally {
      run.kill();
    }
  }, 60_000);

  it("a port that does not exist fails with advice", async () => {
    const run = espfleet(["monitor", "--port", "/dev/does-not-exist", "--duration", "1s"]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(/no such port \/dev\/does-not-exist.*plug the board in/);
  }, 60_000);
});
