/**
 * npm run bench:device — how many virtual ESP8266 devices (device/), each
 * running the built firmware (firmware/dist) on its own wasm32 Lua 5.1 and
 * publishing one reading per second, one Node process holds; and what each
 * costs: CPU per reading, memory per device.
 *
 * Against a mosquitto this script starts on loopback (its own process, so
 * the broker's CPU is not counted), the fleet grows in steps; at each step
 * every device must be connected and sampling, then for a measuring window:
 *   readings/s (PUBLISHes on sensor_data the devices put on the wire),
 *   CPU µs per reading (this process: user + system),
 *   RSS per device (growth over the empty process),
 *   event-loop delay p99 (how late timers fire).
 * A step "keeps up" when readings/s >= 95 % of the devices and the p99
 * delay stays under 250 ms. The largest step that keeps up is the answer.
 *
 *   npm run bench:device                    steps 100,400,1000,1600 devices (about 2.5 minutes)
 *   npm run bench:device -- --steps 25,50   other steps
 *   npm run bench:device -- --window 10     measuring window in seconds (default 8)
 *   npm run bench:device -- --heap-kb 96    heap budget of each device (default 96, see below)
 *
 * The heap budget defaults to 96 KB, not the 40 KB of a real device: the
 * current build peaks at ~60 KB while it starts and would panic and reboot
 * in a loop on 40 KB (run with --heap-kb 40 to see it). Devices upload only
 * what the build says to upload (init.lua, app.lc, cfg.lc, config.json).
 * Writes the figures to build/bench-device.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { VirtualDeviceFleet } from "../device/fleet";
import { startMosquitto } from "../test/device/support/brokers";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "firmware", "dist");
const outFile = join(root, "build", "bench-device.json");

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const STEPS = (argument("--steps") ?? "100,400,1000,1600").split(",").map(Number);
const WINDOW_S = Number(argument("--window") ?? "8");
const HEAP_KB = Number(argument("--heap-kb") ?? "96");
/** Total time budget: no new step starts after this. */
const BUDGET_MS = 170_000;
/** Boots per second while the fleet grows (each boot compiles the emulator and loads app.lc). */
const BOOTS_PER_S = 200;
const KEEP_UP = 0.95;
const MAX_P99_MS = 250;
const UPLOAD = ["init.lua", "app.lc", "cfg.lc"];

if (STEPS.some((n) => !Number.isInteger(n) || n < 1) || !(WINDOW_S > 0) || !(HEAP_KB > 0)) {
  process.stderr.write("usage: npm run bench:device -- [--steps 50,100,200] [--window 8] [--heap-kb 96]\n");
  process.exit(2);
}

interface StepResult {
  devices: number;
  connected: number;
  readingsPerS: number;
  cpuUsPerReading: number;
  cpuPercent: number;
  rssPerDeviceKb: number;
  rssMb: number;
  p99DelayMs: number;
  panics: number;
  keptUp: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

async function main(): Promise<void> {
  const started = Date.now();
  const broker = await startMosquitto();
  const fsRoot = mkdtempSync(join(tmpdir(), "espfleet-bench-device-"));
  const fleets: VirtualDeviceFleet[] = [];
  let readings = 0;
  const say = (line = ""): void => void process.stdout.write(line + "\n");
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  say(`espfleet virtual-device benchmark: firmware/dist (${UPLOAD.join(", ")}), 1 reading/s per device, heap ${HEAP_KB} KB each`);
  say(`broker: mosquitto ${broker.url} (own process); node ${process.version}; ${WINDOW_S} s windows; keeps up = >= ${KEEP_UP * 100} % of 1/s per device and p99 timer delay < ${MAX_P99_MS} ms`);
  say();
  say("devices  connected  readings/s  CPU µs/reading  CPU %  RSS/device KB  RSS MB  p99 delay ms  panics  keeps up");
  const results: StepResult[] = [];
  try {
    let total = 0;
    for (const target of STEPS) {
      if (Date.now() - started > BUDGET_MS) {
        say(`(time budget reached; steps from ${target} skipped)`);
        break;
      }
      const add = target - total;
      if (add <= 0) {
        continue;
      }
      const offset = total;
      const flashStart = performance.now();
      const fleet = new VirtualDeviceFleet({
        count: add,
        rootDir: fsRoot,
        firmwareDir: dist,
        files: UPLOAD,
        config: { mqtt_host: "127.0.0.1", mqtt_port: broker.port, interval_ms: 1000, wifi_ssid: "bench" },
        idFor: (i) => `dev-${String(offset + i + 1).padStart(5, "0")}`,
        device: { heapKb: HEAP_KB, wifiJoinDelayMs: 200 },
        staggerMs: 1000 / BOOTS_PER_S,
      });
      process.stderr.write(`  step ${target}: ${add} file systems flashed in ${((performance.now() - flashStart) / 1000).toFixed(1)} s\n`);
      for (const d of fleet.devices) {
        d.on("publish", (topic) => {
          // Readings: sensor_data by default, sensor_data/<id> with topic_data "sensor_data/{id}".
          if (topic === "sensor_data" || topic.startsWith("sensor_data/")) {
            readings++;
          }
        });
      }
      fleets.push(fleet);
      const bootStart = performance.now();
      await fleet.start();
      const bootS = (performance.now() - bootStart) / 1000;
      total = target;
      // Boot window (3 s in init.lua), join, connect: wait until every device is connected, 20 s at most.
      const deadline = Date.now() + 20_000;
      const connected = (): number => fleets.reduce((n, f) => n + f.counters().mqttConnected, 0);
      while (connected() < total && Date.now() < deadline) {
        await sleep(250);
      }
      process.stderr.write(`  step ${total}: flashed and powered on ${add} in ${bootS.toFixed(1)} s, all connected ${((performance.now() - bootStart) / 1000).toFixed(1)} s after the first power-on\n`);
      await sleep(1500); // let the first readings and the subscriptions settle
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const cpu0 = process.cpuUsage();
      const r0 = readings;
      const t0 = performance.now();
      await sleep(WINDOW_S * 1000);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      delay.disable();
      const n = readings - r0;
      const cpuUs = cpu.user + cpu.system;
      const rss = process.memoryUsage().rss;
      const panics = fleets.reduce((p, f) => p + f.counters().panics, 0);
      const rate = n / seconds;
      const p99 = delay.percentile(99) / 1e6;
      const result: StepResult = {
        devices: total,
        connected: connected(),
        readingsPerS: Math.round(rate * 10) / 10,
        cpuUsPerReading: n > 0 ? Math.round(cpuUs / n) : 0,
        cpuPercent: Math.round((cpuUs / 1e6 / seconds) * 1000) / 10,
        rssPerDeviceKb: Math.round((rss - rss0) / 1024 / total),
        rssMb: mb(rss),
        p99DelayMs: Math.round(p99),
        panics,
        keptUp: rate >= KEEP_UP * total && p99 < MAX_P99_MS,
      };
      results.push(result);
      say(
        [
          String(result.devices).padStart(7),
          String(result.connected).padStart(10),
          result.readingsPerS.toFixed(1).padStart(11),
          String(result.cpuUsPerReading).padStart(15),
          result.cpuPercent.toFixed(1).padStart(6),
          String(result.rssPerDeviceKb).padStart(14),
          result.rssMb.toFixed(1).padStart(7),
          String(result.p99DelayMs).padStart(13),
          String(result.panics).padStart(7),
          result.keptUp ? "   yes" : "   NO",
        ].join(" "),
      );
      if (!result.keptUp) {
        break;
      }
    }
  } finally {
    for (const f of fleets) {
      f.stop();
    }
    await broker.close();
    rmSync(fsRoot, { recursive: true, force: true });
  }
  const best = results.filter((r) => r.keptUp).at(-1);
  say();
  if (best === undefined) {
    say("VERDICT: not even the first step kept up; see the table.");
  } else {
    const bound = results.at(-1)?.keptUp === true ? `at least ${best.devices} (the largest step tried)` : `${best.devices} (the next step fell behind)`;
    say(
      `VERDICT: one process holds ${bound} virtual devices at 1 reading/s each; ` +
        `${best.cpuUsPerReading} µs CPU per reading, ${best.rssPerDeviceKb} KB RSS per device (wasm32 Lua state + mqtt.js client + host state).`,
    );
    const cpuBound = Math.floor(1e6 / best.cpuUsPerReading);
    say(`  CPU alone would allow about ${cpuBound.toLocaleString("en-US")} devices per core at this cost per reading.`);
    say(`  The TypeScript engine on the same machine: npm run bench:fleet -- --nodes ${best.devices}`);
  }
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(
    outFile,
    JSON.stringify({ generatedAt: new Date().toISOString(), heapKb: HEAP_KB, windowS: WINDOW_S, upload: UPLOAD, steps: results, best: best ?? null }, null, 1) + "\n",
  );
  say(`(written to ${outFile.slice(root.length + 1)})`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:device: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
