/**
 * `espfleet bridge` as a person runs it (a child process), over the real
 * serial stack: a socat pty pair with a fake StandardFirmata Uno on the far
 * end, a real aedes broker, Ctrl-C at the end. And the ways it refuses to
 * start: a bad --sensor, no such port, a board that never answers, no broker.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBridgeId } from "../../../host-bridge/johnny-five/bridge-command";
import { portOpenAdvice } from "../../../host-bridge/johnny-five/firmata-board";
import { sendConfigChange } from "../../../ops/config/change";
import { type BridgeRun } from "./support/bridge-process";
import { useBridgeTestBed } from "./support/bridge-test-bed";
import { FIRMWARE_NAME } from "./support/fake-uno";
import { waitFor } from "./support/observer";

const WAIT_MS = 30_000;
/** Per test: a child process under tsx starts in ~1 s, but in 10+ s on a loaded 2-core machine. */
const TEST_MS = 120_000;

const bed = useBridgeTestBed("cli");

async function runToEnd(args: string[]): Promise<BridgeRun & { code: number | null }> {
  const run = bed.bridge(args);
  const code = await run.exited;
  return { ...run, code };
}

describe("espfleet bridge", () => {
  it("joins the fleet over a serial port: readings, an applied config_change, and a clean Ctrl-C", async () => {
    const broker = await bed.startBroker();
    const { pty, uno } = await bed.plugBoard();
    uno.counts[0] = 61; // LM35: 298 mV = 30 °C
    uno.counts[2] = 700;
    const observer = await bed.observe(broker.url);

    const run = bed.bridge([
      "--port", pty.hostPath,
      "--sensor", "temperature:A0:LM35",
      "--sensor", "adc:A2",
      "--broker", broker.url,
      "--interval", "200ms",
      "--state-dir", join(bed.dir, "state"),
    ]);
    const id = defaultBridgeId(pty.hostPath);
    expect(id).toBe("bridge-ttyACM0");
    const reading = await waitFor(
      // The inputs start streaming one after the other: wait for a reading with both.
      () => observer.readings.find((m) => m.body.id === id && m.body.temperature !== undefined && m.body.adc !== undefined),
      WAIT_MS,
      () => `a reading of ${id} with both sensors (stderr: ${run.stderr})`,
    );
    expect(reading.body.temperature).toBe(Math.round(((61 / 1023) * 5000) / 10));
    expect(reading.body.adc).toBe(700);
    expect(uno.seen).toEqual(expect.arrayContaining(["capabilities", "analog mapping", "report A0", "report A2"]));
    expect(run.stdout).toContain(`${FIRMWARE_NAME} 2.5 on ${pty.hostPath}`);
    expect(run.stdout).toContain("temperature LM35 on A0, adc RAW on A2");

    const outcome = await sendConfigChange(observer.client, "", { req: "cli-apply", target: id, interval_ms: 400, sensors: ["adc"] }, { ids: [id] }, WAIT_MS);
    expect(outcome.applied.map((a) => a.config?.sensors)).toEqual([["adc"]]);
    const seqAtAck = Math.max(...observer.readings.map((m) => m.body.seq as number));
    uno.counts[2] = 321;
    const after = await waitFor(() => observer.readings.find((m) => (m.body.seq as number) > seqAtAck && m.body.adc === 321), WAIT_MS, "a reading after the change");
    expect(after.body.temperature).toBeUndefined();

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(130);  // Ctrl-C: 130, as every command (issue 12)
    const offline = await waitFor(() => observer.statuses.find((s) => s.body.id === id && s.body.state === "offline"), WAIT_MS, "the retained offline status");
    expect(offline.topic).toBe(`status/${id}`);
  }, TEST_MS);

  it("an --interval given on the command line wins over the interval a config_change stored; a default does not (issue 12)", async () => {
    const broker = await bed.startBroker();
    const { pty } = await bed.plugBoard();
    const observer = await bed.observe(broker.url);
    const id = defaultBridgeId(pty.hostPath);
    const args = ["--port", pty.hostPath, "--sensor", "adc:A2", "--broker", broker.url, "--state-dir", join(bed.dir, "state")];
    const intervalOf = async (req: string): Promise<unknown> => {
      await waitFor(() => observer.statuses.find((s) => s.body.id === id && s.body.state === "online"), WAIT_MS, "the bridge online");
      const outcome = await sendConfigChange(observer.client, "", { req, target: id }, { ids: [id] }, WAIT_MS);
      return outcome.applied[0]?.config?.interval_ms;
    };
    const first = bed.bridge(args);
    expect(await intervalOf("q1")).toBe(1000);
    await sendConfigChange(observer.client, "", { req: "set", target: id, interval_ms: 900 }, { ids: [id] }, WAIT_MS);
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(130);

    // No --interval: the stored 900 ms is kept, and said so.
    observer.statuses.splice(0);
    const kept = bed.bridge(args);
    expect(await intervalOf("q2")).toBe(900);
    expect(kept.stdout).toContain(`${id}: kept interval_ms stored by an earlier config_change`);
    kept.child.kill("SIGINT");
    expect(await kept.exited).toBe(130);

    // --interval given: it wins.
    observer.statuses.splice(0);
    const given = bed.bridge([...args, "--interval", "300ms"]);
    expect(await intervalOf("q3")).toBe(300);
    given.child.kill("SIGINT");
    expect(await given.exited).toBe(130);
  }, TEST_MS);

  it("refuses a bad --sensor before touching the port, listing what is valid", async () => {
    const run = await runToEnd(["--port", join(bed.dir, "ttyNONE"), "--sensor", "temperature:A0:DHT22"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown temperature controller "DHT22"');
    expect(run.stderr).toContain("LM35, TMP36");
    expect(run.stderr).not.toContain("serial port");
  }, TEST_MS);

  it("says there is no such port, with where to look", async () => {
    const broker = await bed.startBroker();
    const run = await runToEnd(["--port", join(bed.dir, "ttyNONE"), "--sensor", "adc:A0", "--broker", broker.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no serial port at ${join(bed.dir, "ttyNONE")}`);
    expect(run.stderr).toContain("/dev/ttyACM*");
  }, TEST_MS);

  it("says a board that never answers Firmata may lack StandardFirmata", async () => {
    const broker = await bed.startBroker();
    const pty = await bed.openPty();
    const run = await runToEnd(["--port", pty.hostPath, "--sensor", "adc:A0", "--broker", broker.url, "--board-timeout", "1s"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("did not answer the Firmata handshake within 1 s");
    expect(run.stderr).toContain("StandardFirmata");
    expect(run.stderr).toContain("57600 baud");
  }, TEST_MS);

  it("says the broker is not there before opening the board", async () => {
    const run = await runToEnd(["--port", join(bed.dir, "ttyNONE"), "--sensor", "adc:A0", "--broker", "mqtt://127.0.0.1:1"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("ECONNREFUSED");
    expect(run.stderr).toContain("espfleet run");
  }, TEST_MS);

  it("advises the dialout group on permission denied and names a busy port", () => {
    expect(portOpenAdvice("/dev/ttyACM0", "Error: Permission denied, cannot open /dev/ttyACM0")).toMatch(/dialout/);
    expect(portOpenAdvice("/dev/ttyACM0", "Error Resource temporarily unavailable Cannot lock port")).toMatch(/in use by another program/);
  });
});
