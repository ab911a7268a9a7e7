/**
 * Simulated nodes for `npm run bench:collect`, in a process of their own so
 * they do not share the collector's event loop: one MQTT connection per node
 * (clean session, as a node), publishing a node's reading at QoS 1 every
 * interval from a random phase. Its `ts` has milliseconds (a real node's has
 * whole seconds), so the benchmark can measure the lag from publish to commit
 * to the millisecond (timed-store.ts). No node logic beyond that: the fleet
 * benchmark measures the simulator itself.
 */
import mqtt, { type MqttClient } from "mqtt";
import { nodeId } from "../../simulator/node-ids";
import type { FromNodes, NodesSettings, NodesStats, ToNodes } from "./collect-bench-protocol";

const settings = JSON.parse(process.argv[2]) as NodesSettings;
const send = (message: FromNodes): void => void process.send?.(message);

interface SimNode {
  id: string;
  client: MqttClient;
  seq: number;
  timer: NodeJS.Timeout | undefined;
}

const nodes: SimNode[] = [];
let connected = 0;
let published = 0;
let acked = 0;
const bootMs = Date.now();
const stats = (): NodesStats => ({ connected, published, acked });

function reading(node: SimNode): string {
  const now = Date.now();
  node.seq++;
  return JSON.stringify({
    id: node.id,
    seq: node.seq,
    boot: 1,
    up: Math.floor((now - bootMs) / 1000),
    // The fields above come first, in this order: the benchmark reads them from the payload's head.
    ts: now / 1000,
    temperature: 20 + (node.seq % 50) / 10,
    humidity: 40 + (node.seq % 20),
    vdd: 3.3,
  });
}

function publish(node: SimNode): void {
  if (!node.client.connected) {
    return; // as a node with no buffer: the benchmark counts what was sent
  }
  published++;
  node.client.publish(`${settings.prefix}/sensor_data`, reading(node), { qos: 1 }, (error) => {
    if (error === undefined || error === null) {
      acked++;
    }
  });
}

let started = 0;
const pace = setInterval(() => {
  for (let i = 0; i < Math.max(1, Math.round(settings.connectRate / 100)) && started < settings.count; i++) {
    const id = nodeId(settings.first + started++);
    const client = mqtt.connect({
      host: "127.0.0.1",
      port: settings.port,
      clientId: `bench-${id}`,
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 1000,
      queueQoSZero: false,
    });
    client.on("error", () => undefined);
    client.on("connect", () => connected++);
    client.on("close", () => {
      if (client.connected) {
        connected--;
      }
    });
    nodes.push({ id, client, seq: 0, timer: undefined });
  }
  if (started >= settings.count) {
    clearInterval(pace);
    const waiting = setInterval(() => {
      if (connected >= settings.count) {
        clearInterval(waiting);
        send({ type: "connected", ...stats() });
      }
    }, 20);
  }
}, 10);

process.on("disconnect", () => process.exit(1));
process.on("message", (message: ToNodes) => {
  if (message.type === "publish") {
    for (const node of nodes) {
      node.timer = setTimeout(() => {
        publish(node);
        node.timer = setInterval(() => publish(node), settings.intervalMs);
      }, Math.random() * settings.intervalMs);
    }
  } else if (message.type === "stats") {
    send({ type: "stats", ...stats() });
  } else {
    for (const node of nodes) {
      clearTimeout(node.timer);
      clearInterval(node.timer);
    }
    // The last PUBACKs, then leave.
    const deadline = Date.now() + 10_000;
    const finish = setInterval(() => {
      if (acked >= published || Date.now() > deadline) {
        clearInterval(finish);
        void Promise.all(nodes.map((n) => n.client.endAsync(true).catch(() => undefined))).then(() => {
          send({ type: "stopped", ...stats() });
          process.exit(0);
        });
      }
    }, 50);
  }
});
