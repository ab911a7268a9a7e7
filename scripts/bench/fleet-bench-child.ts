/**
 * One side of `npm run bench:fleet`, in its own process so its CPU time and
 * memory are its own: either (a) bare mqtt.js clients, one per node,
 * publishing a fixed reading-sized payload at the node rate with no node
 * logic, or (b) the simulator's Fleet with the same N, rate, QoS and will.
 * Driven by the parent over IPC: it connects, reports, measures a window
 * when asked, and stops when told.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getHeapSpaceStatistics } from "node:v8";
import mqtt, { type MqttClient } from "mqtt";
import { Fleet } from "../../simulator/fleet";
import { nodeId } from "../../simulator/node-ids";
import type { BenchChildSettings, FromBenchChild, ToBenchChild } from "./fleet-bench-protocol";

const settings = JSON.parse(process.argv[2]) as BenchChildSettings;
const send = (message: FromBenchChild): void => void process.send?.(message);
const gc = (globalThis as { gc?: () => void }).gc;

function rssAfterGc(): number {
  gc?.();
  gc?.();
  const memory = process.memoryUsage();
  if (process.env.BENCH_DEBUG !== undefined) {
    const spaces = getHeapSpaceStatistics()
      .map((x) => `${x.space_name.replace("_space", "")} ${(x.space_used_size / 1e6).toFixed(1)}/${(x.space_size / 1e6).toFixed(1)} MB`)
      .join(", ");
    process.stderr.write(`[${settings.mode}] rss ${(memory.rss / 1e6).toFixed(1)} MB, heap used ${(memory.heapUsed / 1e6).toFixed(1)} MB; ${spaces}\n`);
  }
  return memory.rss;
}

interface Side {
  /** Readings acknowledged by the broker so far. */
  acked(): number;
  connected(): number;
  /** Node files still to be written (the simulator's start-up writes). */
  pendingWrites(): number;
  stop(): Promise<void>;
}

/** (a) Bare clients: the same session settings as a node, a fixed payload, no logic. */
function startBaseline(): Side {
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  let acked = 0;
  let connected = 0;
  let started = 0;
  const payload = settings.payload;
  const pace = setInterval(() => {
    const batch = Math.max(1, Math.round(settings.connectRate / 100));
    for (let i = 0; i < batch && started < settings.nodes; i++) {
      const id = nodeId(++started);
      const client = mqtt.connect({
        host: "127.0.0.1",
        port: settings.port,
        clientId: `bare-${id}`,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        // A refused or timed-out connect is tried again, as a node would (its backoff starts at 1 s).
        reconnectPeriod: 1000,
        resubscribe: false,
        queueQoSZero: false,
        will: { topic: `bench/status/${id}`, payload: Buffer.from(`{"id":"${id}","state":"offline"}`), qos: 1, retain: true },
      });
      client.on("error", () => undefined);
      // The least a node can do with a config_change: echo the req in a constant ack.
      client.on("message", (_topic: string, message: Buffer) => {
        const req = (JSON.parse(message.toString()) as { req?: string }).req;
        client.publish(`bench/config_ack/${id}`, JSON.stringify({ id, req, result: "applied" }), { qos: 1 });
      });
      let up = false;
      let publishing = false;
      client.on("close", () => {
        if (up) {
          up = false;
          connected--;
        }
      });
      client.on("connect", () => {
        up = true;
        connected++;
        client.subscribe("bench/config_change", { qos: 1 });
        if (publishing) {
          return;
        }
        publishing = true;
        timers.push(
          setInterval(() => {
            if (client.connected) {
              // The readings topic of the simulated side (default topic_data: one shared topic).
              client.publish("bench/sensor_data", payload, { qos: 1 }, (error) => {
                if (error === undefined || error === null) {
                  acked++;
                }
              });
            }
          }, settings.intervalMs),
        );
      });
      clients.push(client);
    }
    if (started >= settings.nodes) {
      clearInterval(pace);
    }
  }, 10);
  return {
    acked: () => acked,
    connected: () => connected,
    pendingWrites: () => 0,
    async stop() {
      clearInterval(pace);
      timers.forEach(clearInterval);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    },
  };
}

/** (b) The simulator: the unchanged core on the Node platform. */
function startSimulator(): Side {
  // Node files on tmpfs when there is one: the bench measures the simulator, not the disk
  // (a node's first start writes two small files; on a busy disk those cost up to 1 ms each).
  const stateDir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "espfleet-bench-"));
  const fleet = new Fleet({
    broker: { url: `mqtt://127.0.0.1:${settings.port}`, host: "127.0.0.1", port: settings.port, secure: false, username: "", password: "", ca: undefined, embedded: false },
    first: 1,
    count: settings.nodes,
    stateDir,
    seed: 1,
    initial: { interval_ms: settings.intervalMs, sensors: ["temperature", "humidity", "adc", "vdd"], sensitivity: 0 },
    fixed: { topic_prefix: "bench" },
    connectRate: settings.connectRate,
    log: (id, level, text) => {
      if (level === "error") {
        process.stderr.write(`${id} ${level}: ${text}\n`);
      }
    },
  });
  void fleet.start();
  return {
    acked: () => fleet.counters.acked,
    connected: () => fleet.counters.connected,
    pendingWrites: () => fleet.storage.pendingWrites(),
    async stop() {
      await fleet.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

const rssBefore = rssAfterGc();
const startedAt = performance.now();
const side = settings.mode === "baseline" ? startBaseline() : startSimulator();
const waitConnected = setInterval(() => {
  if (side.connected() >= settings.nodes) {
    clearInterval(waitConnected);
    send({ type: "connected", connectMs: performance.now() - startedAt });
  }
}, 20);

// The bench went away (it failed or was interrupted): do not linger with thousands of sockets.
process.on("disconnect", () => process.exit(1));

process.on("message", (message: ToBenchChild) => {
  if (message.type === "measure") {
    // The window starts once the start-up file writes are done (a one-time cost, not per message),
    // or after 30 s of waiting for them.
    const askedAt = performance.now();
    const waitIdle = setInterval(() => {
      if (side.pendingWrites() > 0 && performance.now() - askedAt < 30_000) {
        return;
      }
      clearInterval(waitIdle);
      measure(message.ms);
    }, 50);
  } else if (message.type === "stop") {
    void side.stop().then(() => {
      send({ type: "stopped" });
      process.exit(0);
    });
  }
});

function measure(ms: number): void {
  const cpu0 = process.cpuUsage();
  const acked0 = side.acked();
  const t0 = performance.now();
  setTimeout(() => {
    const cpu = process.cpuUsage(cpu0);
    const msgs = side.acked() - acked0;
    const seconds = (performance.now() - t0) / 1000;
    const rss = rssAfterGc();
    send({ type: "window", msgs, seconds, cpuUs: cpu.user + cpu.system, rssBefore, rss, connected: side.connected() });
  }, ms);
}
