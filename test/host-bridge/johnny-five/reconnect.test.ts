/**
 * `espfleet bridge` when the board goes away and comes back (a child
 * process over a socat pty with a fake StandardFirmata Uno, against aedes):
 * the node keeps running, its reads fail meanwhile, and it reads the board
 * again after the bridge reopened the port.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBridgeId } from "../../../host-bridge/johnny-five/bridge-command";
import { useBridgeTestBed } from "./support/bridge-test-bed";
import { waitFor } from "./support/observer";

const WAIT_MS = 30_000;
/** Per test: a child process under tsx starts in ~1 s, but in 10+ s on a loaded 2-core machine. */
const TEST_MS = 120_000;

const bed = useBridgeTestBed("reconnect");

describe("espfleet bridge and a board that goes away", () => {
  it("keeps the node running while the board is unplugged and reads it again once it is back", async () => {
    const broker = await bed.startBroker();
    const { pty, uno } = await bed.plugBoard();
    uno.counts[0] = 61; // LM35: 30 °C
    const observer = await bed.observe(broker.url);
    const run = bed.bridge(["--port", pty.hostPath, "--sensor", "temperature:A0:LM35", "--broker", broker.url, "--interval", "200ms", "--board-retry", "300ms", "--state-dir", join(bed.dir, "state")]);
    const id = defaultBridgeId(pty.hostPath);
    const first = await waitFor(() => observer.readings.find((m) => m.body.temperature === 30), WAIT_MS, () => `a reading of 30 °C (stderr: ${run.stderr})`);

    // Unplugged: the port's far end goes away.
    await uno.close();
    await pty.close();
    const failed = await waitFor(
      () => observer.readings.find((m) => (m.body.seq as number) > (first.body.seq as number) && Array.isArray(m.body.failed)),
      WAIT_MS,
      () => `a reading with the sensor failed (stderr: ${run.stderr})`,
    );
    expect(failed.body.failed).toEqual(["temperature"]);
    await waitFor(() => (run.stderr.includes("is gone") ? true : undefined), WAIT_MS, () => `the bridge saying the board is gone (stderr: ${run.stderr})`);

    // Plugged in again, now warmer: 82 counts = 400.8 mV = 40 °C.
    const { uno: uno2 } = await bed.plugBoard();
    uno2.counts[0] = 82;
    const back = await waitFor(
      () => observer.readings.find((m) => (m.body.seq as number) > (failed.body.seq as number) && m.body.temperature === 40),
      WAIT_MS,
      () => `a reading from the board after it came back (stderr: ${run.stderr})`,
    );
    expect(back.body.id).toBe(id);
    expect(back.body.boot).toBe(first.body.boot);
    expect(run.stderr).toContain("the board is back");
    await waitFor(() => observer.events.find((e) => e.body.code === "sensor_recovered"), WAIT_MS, "a sensor_recovered event");

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(130); // Ctrl-C: 130, as every command (issue 12)
  }, TEST_MS);

  it("takes a board that went silent (hung sketch) as gone, reopens the port, and reads it again after a reset", async () => {
    const broker = await bed.startBroker();
    const { pty, uno } = await bed.plugBoard();
    uno.counts[1] = 400;
    const observer = await bed.observe(broker.url);
    const run = bed.bridge(["--port", pty.hostPath, "--sensor", "adc:A1", "--broker", broker.url, "--interval", "200ms", "--board-retry", "300ms", "--state-dir", join(bed.dir, "state")]);
    const first = await waitFor(() => observer.readings.find((m) => m.body.adc === 400), WAIT_MS, () => `a reading of 400 (stderr: ${run.stderr})`);

    uno.hang();
    await waitFor(() => (run.stderr.includes("nothing from the board for") ? true : undefined), WAIT_MS, () => `the bridge giving up on the silent board (stderr: ${run.stderr})`);
    uno.counts[1] = 401;
    uno.reset();
    const back = await waitFor(
      () => observer.readings.find((m) => (m.body.seq as number) > (first.body.seq as number) && m.body.adc === 401),
      WAIT_MS,
      () => `a reading after the reset (stderr: ${run.stderr})`,
    );
    expect(back.body.boot).toBe(first.body.boot);
    expect(run.stderr).toContain("the board is back");

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(130); // Ctrl-C: 130, as every command (issue 12)
  }, TEST_MS);
});
