/**
 * Issue 15, hardening: the real `espfleet run` / `watch` / `config` and
 * ./flash.sh as a person runs them, on the embedded aedes or a mosquitto
 * started here.
 *   1. One node's fault stays with that node; a killed worker comes back.
 *   2. An `applied` ack means the change is on disk; a boot number is on disk
 *      before its first reading (`kill -9` right after either).
 *   3. Node's own --env-file is not espfleet's flag (--settings-file is).
 *   4. Bad input: one line, exit 2, at once (no spinning, no hanging).
 *   5. One exit rule: 0 done, 1 failed, 2 usage, 130 Ctrl-C.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { CliRun, runCli } from "./support/cli-process";
import { freePort, Mosquitto } from "./support/mosquitto";
import { Observer } from "./support/observer";

const ROOT = join(import.meta.dirname, "..", "..");
const stateDir = (): string => mkdtempSync(join(tmpdir(), "espfleet-reliability-"));

async function waitUntil(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A command that must end by itself within `timeoutMs`; killed (code null) if it does not. */
async function runBounded(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  const run = CliRun.start(args);
  const killer = setTimeout(() => run.kill("SIGKILL"), timeoutMs);
  const code = await run.exited;
  clearTimeout(killer);
  return { code, out: run.out, ms: Date.now() - started };
}

/** Every message on `filters` (retained ones flagged), as a plain consumer would get them. */
async function listen(port: number, filters: string[]): Promise<{ client: MqttClient; messages: { topic: string; body: Record<string, unknown>; retain: boolean }[] }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `rel-${Math.random().toString(36).slice(2, 10)}`, protocolVersion: 4, reconnectPeriod: 0 });
  const messages: { topic: string; body: Record<string, unknown>; retain: boolean }[] = [];
  client.on("message", (topic, payload, packet) => {
    if (payload.length > 0) {
      messages.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain });
    }
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, messages };
}

/** Process ids of a command's children (the worker processes of `run --workers`). */
function childrenOf(pid: number): number[] {
  return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

describe("reliability (issue 15)", () => {
  const runs: CliRun[] = [];
  const clients: MqttClient[] = [];
  const brokers: Mosquitto[] = [];
  const observers: Observer[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await Promise.all(observers.splice(0).map((o) => o.close()));
    for (const run of runs.splice(0)) {
      run.kill("SIGKILL");
    }
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });
  const start = (args: string[]): CliRun => {
    const run = CliRun.start(args);
    runs.push(run);
    return run;
  };

  describe("1. a node's fault stays with that node", () => {
    it("a node whose sensor model throws is faulted alone: logged once, retained status faulted, counted; the rest and the broker run on", async () => {
      const port = await freePort();
      const fleet = start(["run", "--nodes", "3", "--port", String(port), "--interval", "200ms", "--state-dir", stateDir(), "--seed", "3", "--faults", "throw=1@node-0002"]);
      await fleet.waitFor(/nodes connected in/);
      await fleet.waitFor(/node-0002 error: faulted in timer sample: simulated exception in the sensor model reading temperature \(--faults throw\)/);
      // The embedded broker still serves: a new client connects, and the other nodes keep publishing.
      const seen = await listen(port, ["sensor_data", "status/+"]);
      clients.push(seen.client);
      await new Promise((r) => setTimeout(r, 1500));
      const readings = (id: string): number => seen.messages.filter((m) => m.topic === "sensor_data" && m.body.id === id).length;
      expect(readings("node-0001")).toBeGreaterThanOrEqual(4);
      expect(readings("node-0003")).toBeGreaterThanOrEqual(4);
      expect(readings("node-0002")).toBe(0);
      const status = seen.messages.find((m) => m.topic === "status/node-0002");
      expect(status).toMatchObject({ retain: true, body: { id: "node-0002", state: "faulted", boot: 1 } });
      expect(String(status?.body.error)).toContain("simulated exception in the sensor model");
      // In the live summary (printed every 5 s without a terminal), and logged once.
      await fleet.waitFor(/connected · .* · 1 faulted/, 10_000);
      expect(fleet.out.match(/node-0002 error: faulted/g)).toHaveLength(1);
      expect(await fleet.interrupt()).toBe(130);
      expect(fleet.out).toMatch(/stopped after [\d.]+ s: [1-9]\d* readings published.*; 1 node faulted \(see the log above\)/);
    }, 40_000);

    it("a run whose nodes faulted ends with 1 after --duration; a healthy one with 0", async () => {
      const faulted = await runBounded(["run", "--nodes", "2", "--port", "0", "--interval", "200ms", "--state-dir", stateDir(), "--duration", "2s", "--faults", "throw=1@node-0001"], 30_000);
      expect(faulted.out).toMatch(/; 1 node faulted/);
      expect(faulted.code).toBe(1);
      const healthy = await runBounded(["run", "--nodes", "2", "--port", "0", "--interval", "200ms", "--state-dir", stateDir(), "--duration", "2s"], 30_000);
      expect(healthy.out).toMatch(/stopped after [\d.]+ s: [1-9]\d* readings published/);
      expect(healthy.out).not.toContain("faulted");
      expect(healthy.code).toBe(0);
    }, 60_000);

    it("a worker killed with SIGKILL is restarted and its nodes come back (boot 2); the other worker's nodes never stop", async () => {
      const broker = await Mosquitto.start();
      brokers.push(broker);
      const observer = await Observer.connect(broker.url, "rel-workers");
      observers.push(observer);
      const fleet = start(["run", "--broker", broker.url, "--nodes", "4", "--workers", "2", "--interval", "200ms", "--state-dir", stateDir(), "--reconnect-min", "100ms"]);
      await fleet.waitFor(/all 4\/4 nodes connected/, 30_000);
      const workers = childrenOf(fleet.pid);
      expect(workers).toHaveLength(2);
      process.kill(workers[0], "SIGKILL");
      await fleet.waitFor(/worker \d \((node-\d+)…(node-\d+)\) died \(SIGKILL\); restarting it with the same nodes in 1 s \(restart 1 of at most 5 within 10 min\)/);
      const died = /worker (\d) \((node-\d+)…(node-\d+)\) died/.exec(fleet.out) as RegExpExecArray;
      const [lost, kept] = died[1] === "1" ? [["node-0001", "node-0002"], ["node-0003", "node-0004"]] : [["node-0003", "node-0004"], ["node-0001", "node-0002"]];
      expect([died[2], died[3]]).toEqual(lost);
      await fleet.waitFor(/worker \d \(node-\d+…node-\d+\) is back: its 2 nodes started again/, 30_000);
      await waitUntil(() => lost.every((id) => observer.of(id).some((r) => r.boot === 2)), "readings of boot 2 from the restarted worker's nodes");
      // The other worker's nodes ran through it: still boot 1, and no reading lost.
      for (const id of kept) {
        expect(observer.of(id).every((r) => r.boot === 1)).toBe(true);
        expect(observer.missingSeqs(id, 1)).toEqual([]);
      }
      expect(childrenOf(fleet.pid)).toHaveLength(2);
      expect(await fleet.interrupt()).toBe(130);
      expect(fleet.out).toMatch(/stopped after .*; 1 worker restart\b/);
    }, 60_000);

    it("a worker that keeps dying is left down after 5 restarts, with a message; the other worker runs on", async () => {
      const port = await freePort();
      const fleet = start(["run", "--nodes", "2", "--workers", "2", "--port", String(port), "--interval", "200ms", "--state-dir", stateDir()]);
      await fleet.waitFor(/all 2\/2 nodes connected/, 30_000);
      const first = childrenOf(fleet.pid)[0];
      const other = childrenOf(fleet.pid)[1];
      let victim = first;
      for (let death = 1; death <= 6; death++) {
        process.kill(victim, "SIGKILL");
        if (death <= 5) {
          await fleet.waitFor(new RegExp(`restart ${death} of at most 5`), 20_000);
          await fleet.waitFor(new RegExp(`(is back: its 1 node started again[\\s\\S]*){${death}}`), 30_000);
          victim = childrenOf(fleet.pid).find((pid) => pid !== other) ?? 0;
        }
      }
      await fleet.waitFor(/died \(SIGKILL\) for the 6th time within 10 min; it is not restarted again: its 1 node stays down \(counted as faulted\), the other workers run on/, 20_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(childrenOf(fleet.pid)).toEqual([other]);
      expect(await fleet.interrupt()).toBe(130);
      expect(fleet.out).toMatch(/; 1 node faulted \(see the log above\), 5 worker restarts/);
    }, 120_000);
  });

  describe("2. an ack means durable", () => {
    it("kill -9 right after an applied ack: the restarted node has the change", async () => {
      const port = await freePort();
      const dir = stateDir();
      const args = ["run", "--nodes", "2", "--port", String(port), "--interval", "500ms", "--state-dir", dir, "--seed", "8"];
      const first = start(args);
      await first.waitFor(/all 2\/2 nodes connected/);
      const broker = ["--broker", `mqtt://127.0.0.1:${port}`];
      const applied = await runCli(["config", ...broker, "--interval", "7s", "--sensitivity", "0.25", "--target", "node-0001"]);
      expect(applied.out).toContain("applied by 1: node-0001");
      expect(applied.code).toBe(0);
      // No Ctrl-C, no goodbye, no flush: what the ack promised must already be on disk.
      first.kill("SIGKILL");
      expect(await first.exited).toBeNull();
      expect(JSON.parse(readFileSync(join(dir, "node-0001", "config.json"), "utf8"))).toMatchObject({ interval_ms: 7000, sensitivity: 0.25 });

      // Started again without --interval: the stored change is kept (an explicit --interval would win over it, issue 12).
      const again = start(args.filter((arg, i) => arg !== "--interval" && args[i - 1] !== "--interval"));
      await again.waitFor(/all 2\/2 nodes connected/);
      expect(again.out).toMatch(/2 nodes kept their stored settings \([^)]*\): interval_ms=7000 on 1, interval_ms=500 on 1, sensitivity=0\.25 on 1/);
      // Asked the way an operator asks (`{}`): the node runs with the change.
      const query = await runCli(["config", ...broker, "--target", "node-0001"]);
      expect(query.out).toContain("node-0001: interval_ms=7000 sensitivity=0.25");
      expect(query.code).toBe(0);
      expect(await again.interrupt()).toBe(130);
    }, 60_000);

    it("kill -9 ~200 ms after start, once the first reading is out: the restart is boot 2, never boot 1 again", async () => {
      const broker = await Mosquitto.start();
      brokers.push(broker);
      const observer = await Observer.connect(broker.url, "rel-boot");
      observers.push(observer);
      const dir = stateDir();
      const args = ["run", "--broker", broker.url, "--nodes", "1", "--interval", "100ms", "--state-dir", dir, "--reconnect-min", "100ms", "--reconnect-max", "1s"];
      const first = start(args);
      await waitUntil(() => observer.of("node-0001").length > 0, "the first reading of boot 1");
      first.kill("SIGKILL");
      await first.exited;
      expect(observer.of("node-0001")[0]).toMatchObject({ boot: 1, seq: 1 });
      const booted = observer.of("node-0001").length;

      start(args);
      await waitUntil(() => observer.of("node-0001").length >= booted + 3, "readings after the restart");
      const after = observer.of("node-0001").slice(booted);
      expect(after.map((r) => r.boot)).toEqual(after.map(() => 2));
      // Boot 1's readings came from one boot only: seq 1 was not published twice.
      expect(observer.of("node-0001").filter((r) => r.boot === 1 && r.seq === 1)).toHaveLength(1);
    }, 60_000);
  });

  describe("3. --env-file belongs to Node; espfleet's flag is --settings-file", () => {
    const flashSh = (args: string[]): Promise<{ code: number | null; out: string }> =>
      new Promise((resolve) => {
        const child = spawn(join(ROOT, "flash.sh"), args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => resolve({ code, out }));
      });

    it("./flash.sh --env-file is refused with the new name (not Node's `not found`, exit 9), and NODE_OPTIONS in a settings file never reaches Node", async () => {
      const missing = await flashSh(["--port", "/dev/null", "--env-file", "/nonexistent.env"]);
      expect(missing.out).not.toContain("node: /nonexistent.env: not found");
      expect(missing.out.trim()).toBe(
        "espfleet: --env-file is Node's own option (Node 20 reads that file itself, NODE_OPTIONS included); espfleet's settings file is --settings-file <file> (default: espfleet.local.env at the repository root)",
      );
      expect(missing.code).toBe(2);

      const settings = join(stateDir(), "local.env");
      writeFileSync(settings, "NODE_OPTIONS=--require /nonexistent-preload.cjs\nWIFI_SSID=home\n");
      // Node 20 would apply the file's NODE_OPTIONS (a preload that does not exist: a crash) before espfleet ran.
      const old = await flashSh(["--port", "/dev/null", "--env-file", settings]);
      expect(old.out).not.toContain("Cannot find module");
      expect(old.code).toBe(2);

      const renamed = await flashSh(["--port", "/dev/null", "--settings-file", settings]);
      expect(renamed.out).not.toContain("Cannot find module");
      expect(renamed.out).toContain(`${settings}: ignoring NODE_OPTIONS: settings-file values never reach Node`);
      expect(renamed.out).toMatch(/missing settings:[\s\S]*--settings-file names another/);
      expect(renamed.code).toBe(2);

      const absent = await flashSh(["--port", "/dev/null", "--settings-file", "/nonexistent.env"]);
      expect(absent.out).toContain("--settings-file /nonexistent.env: no such file; create it with KEY=VALUE lines");
      expect(absent.code).toBe(2);
    }, 60_000);
  });

  describe("4. bad input: one line, exit 2, at once", () => {
    const oneLine = (out: string): string[] => out.trim().split("\n");

    it("--state-dir under /proc (Node's recursive mkdir spins there) and --state-dir on a regular file", async () => {
      const proc = await runBounded(["run", "--nodes", "2", "--port", "0", "--state-dir", "/proc/espfleet-xyz", "--duration", "2s"]);
      expect(oneLine(proc.out)).toEqual(["espfleet: --state-dir /proc/espfleet-xyz: cannot make /proc/espfleet-xyz: ENOENT; give a folder you can write to"]);
      expect(proc.code).toBe(2);

      const file = join(stateDir(), "plain-file");
      writeFileSync(file, "not a folder\n");
      const onFile = await runBounded(["run", "--nodes", "2", "--port", "0", "--state-dir", file, "--duration", "2s"]);
      expect(oneLine(onFile.out)).toEqual([`espfleet: --state-dir ${file}: ${file} is a file, not a folder; give a folder you can write to`]);
      expect(onFile.code).toBe(2);
      // Refused before anything ran: the file is untouched (and --fresh never wipes it either).
      const fresh = await runBounded(["run", "--nodes", "2", "--port", "0", "--state-dir", file, "--fresh", "--duration", "2s"]);
      expect(fresh.code).toBe(2);
      expect(readFileSync(file, "utf8")).toBe("not a folder\n");
    }, 60_000);

    it("a FIFO as --fleet-key-file is refused before it is opened (reading one blocks forever)", async () => {
      const fifo = join(stateDir(), "key.fifo");
      execFileSync("mkfifo", [fifo]);
      const result = await runBounded(["run", "--nodes", "2", "--port", "0", "--state-dir", stateDir(), "--fleet-key-file", fifo, "--duration", "2s"]);
      expect(oneLine(result.out)).toEqual([`espfleet: --fleet-key-file ${fifo} is a named pipe (FIFO); give a regular file (it is read whole, at once)`]);
      expect(result.code).toBe(2);
      const credentials = await runBounded(["run", "--nodes", "2", "--broker", "mqtt://127.0.0.1:1", "--credentials", fifo, "--user", "node-{id}"]);
      expect(oneLine(credentials.out)).toEqual([`espfleet: --credentials ${fifo} is a named pipe (FIFO); give a regular file (it is read whole, at once)`]);
      expect(credentials.code).toBe(2);
    }, 40_000);

    it("--faults with a kind given twice, or a node that is not in the fleet", async () => {
      const twice = await runBounded(["run", "--nodes", "2", "--port", "0", "--faults", "fail=0.1,fail=0.2", "--duration", "2s"]);
      expect(oneLine(twice.out)).toEqual(["espfleet: --faults: fail is given twice; give each kind once (e.g. fail=0.1,stuck=0.01)"]);
      expect(twice.code).toBe(2);
      const stranger = await runBounded(["run", "--nodes", "2", "--port", "0", "--faults", "throw=1@node-0009", "--duration", "2s"]);
      expect(oneLine(stranger.out)).toEqual(["espfleet: --faults: @node-0009 is not a node of this fleet (node-0001 to node-0002)"]);
      expect(stranger.code).toBe(2);
    }, 40_000);

    it("commander's usage errors exit 2 too (an unknown option, a value without its unit)", async () => {
      const unknown = await runBounded(["run", "--nodez", "3"]);
      expect(unknown.out).toContain("error: unknown option '--nodez'");
      expect(unknown.code).toBe(2);
      const unit = await runBounded(["watch", "--duration", "2"]);
      expect(unit.out).toContain("add a unit: 2ms, 2s or 2m");
      expect(unit.code).toBe(2);
    }, 30_000);
  });

  describe("4. watch keeps a persistent session", () => {
    it("a broker restart loses no reading: the session (a stable client id, clean session off) is resumed and queued readings delivered", async () => {
      const broker = await Mosquitto.start();
      brokers.push(broker);
      const fleet = start(["run", "--broker", broker.url, "--nodes", "2", "--interval", "100ms", "--state-dir", stateDir(), "--reconnect-min", "100ms", "--reconnect-max", "1s"]);
      await fleet.waitFor(/all 2\/2 nodes connected/, 20_000);
      const clientId = `watch-rel-${process.pid}`;
      const watch = start(["watch", "--broker", broker.url, "--lines", "--client-id", clientId]);
      await watch.waitFor(new RegExp(`as ${clientId}, persistent session`));
      await watch.waitFor(/node-0002 #\d+ boot 1/);
      await broker.stop();
      await new Promise((r) => setTimeout(r, 500));
      await broker.restart();
      // The nodes are back within 50-100 ms and send what they buffered; the watch retries only every second.
      await watch.waitFor(/\(re\)connected to/, 10_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await watch.interrupt()).toBe(130);
      expect(watch.out).toMatch(/watched 2 nodes: [1-9]\d* readings, 0 lost \(seq gaps\)/);
      expect(await fleet.interrupt()).toBe(130);
    }, 60_000);

    it("says so in its help, with the default id", async () => {
      const help = await runCli(["watch", "--help"]);
      const text = help.out.replace(/\s+/g, " ");
      expect(text).toContain("--client-id <id>");
      expect(text).toContain("persistent session");
      expect(text).toContain("(default: espfleet-watch-<user>-<host>)");
      expect(help.code).toBe(0);
    });
  });

  describe("5. one exit rule", () => {
    it("watch: 0 after --duration, 130 on Ctrl-C", async () => {
      const port = await freePort();
      const fleet = start(["run", "--nodes", "1", "--port", String(port), "--interval", "200ms", "--state-dir", stateDir()]);
      await fleet.waitFor(/all 1\/1 nodes connected/);
      const broker = ["--broker", `mqtt://127.0.0.1:${port}`, "--lines"];
      const timed = await runBounded(["watch", ...broker, "--duration", "1s", "--client-id", `w1-${process.pid}`]);
      expect(timed.out).toMatch(/watched 1 nodes/);
      expect(timed.code).toBe(0);
      const watch = start(["watch", ...broker, "--client-id", `w2-${process.pid}`]);
      await watch.waitFor(/node-0001 #\d+/);
      expect(await watch.interrupt()).toBe(130);
      expect(watch.out).toMatch(/watched 1 nodes/);
      expect(await fleet.interrupt()).toBe(130);
      expect(fleet.out).toMatch(/stopped after [\d.]+ s/);
    }, 60_000);
  });
});
