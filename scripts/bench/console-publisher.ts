/**
 * The fleet of `npm run bench:console`, in its own process: N synthetic
 * nodes at `hz` readings a second each, on a few mqtt.js clients (a
 * simulated fleet of 10,000 would take this machine's cores from the
 * console being measured). Each node first gets its retained status
 * (online, with a firmware version), as a node's would be, then readings
 * shaped as a node's, spread evenly over each second.
 *
 *   tsx scripts/bench/console-publisher.ts <url> <prefix> <nodes> <hz>
 * Prints "ready" once every status is out, then a line per second.
 */
import mqtt, { type MqttClient } from "mqtt";

const [url, prefix, nodesText, hzText] = process.argv.slice(2);
const NODES = Number(nodesText);
const HZ = Number(hzText);
const CLIENTS = 4;
const TICK_MS = 10;

function benchNodeId(n: number): string {
  return `bench-${String(n).padStart(5, "0")}`;
}

const clients: MqttClient[] = [];
for (let c = 0; c < CLIENTS; c++) {
  clients.push(await mqtt.connectAsync(url, { clientId: `bench-console-pub-${process.pid}-${c}`, protocolVersion: 4 }));
}
for (let n = 1; n <= NODES; n++) {
  const id = benchNodeId(n);
  clients[n % CLIENTS].publish(`${prefix}/status/${id}`, JSON.stringify({ id, state: "online", boot: 1, fw: "0.1.0" }), { qos: 0, retain: true });
}
await Promise.all(clients.map((c) => c.publishAsync(`${prefix}/bench/ready`, "", { qos: 1 })));
process.stdout.write("ready\n");

const seq = new Uint32Array(NODES + 1);
const started = performance.now();
let sent = 0;
let next = 0;
setInterval(() => {
  // Catch up to where the clock says we should be: N * hz readings per second, evenly.
  const due = Math.floor(((performance.now() - started) / 1000) * NODES * HZ);
  const nowS = Math.floor(Date.now() / 1000);
  for (; sent < due; sent++) {
    const n = (next % NODES) + 1;
    next++;
    seq[n]++;
    const s = seq[n];
    const payload = `{"id":"${benchNodeId(n)}","seq":${s},"boot":1,"up":${s},"ts":${nowS},"temperature":${(21 + Math.sin(s / 50 + n)).toFixed(2)},"humidity":${(45 + Math.cos(s / 70 + n) * 5).toFixed(2)},"vdd":3.3}`;
    clients[n % CLIENTS].publish(`${prefix}/sensor_data`, payload, { qos: 0 });
  }
}, TICK_MS);
setInterval(() => process.stdout.write(`sent ${sent}\n`), 1000);
