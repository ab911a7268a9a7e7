/**
 * A test's view of the fleet from the outside: a persistent MQTT session
 * that records every reading, status and event, so a broker restart loses
 * nothing on the observer's side and any gap is the fleet's. Readings are
 * taken from `P/sensor_data` (the default topic_data) and `P/sensor_data/+`
 * (topic_data `sensor_data/{id}`), the id from the payload.
 */
import mqtt, { type MqttClient } from "mqtt";

/** The observer retries this often while the broker is away (the nodes back off from 100 ms to 1 s). */
const RECONNECT_MS = 100;

export interface ObservedReading {
  id: string;
  seq: number;
  boot: number;
  dropped?: number;
  /** performance.now() at arrival. */
  at: number;
  [key: string]: unknown;
}

export class Observer {
  readonly readings: ObservedReading[] = [];
  readonly statuses: { id: string; state: string; retained: boolean }[] = [];
  readonly events: Record<string, unknown>[] = [];

  /** Topics of the readings seen, in arrival order (parallel to `readings`). */
  readonly readingTopics: string[] = [];
  /**
   * Reconnections that did not find the persistent session on the broker
   * (CONNACK without "session present"): mqtt.js subscribes again, and what
   * was published before that reached no one. A test with a broker restart
   * checks this is 0, so a lost session fails as such and not as "missing
   * readings". This is how the "drop count is exact" test on mosquitto
   * failed now and then (issue 14): mosquitto, started as root, ran as the
   * user mosquitto, could not write its root-owned folder, so it saved no
   * sessions at the stop; whatever a node published after the restart and
   * before the observer had subscribed again was delivered to no one. See
   * Mosquitto#stop, which now refuses such a stop.
   */
  sessionsLost = 0;

  private constructor(
    private readonly client: MqttClient,
    /** The readings topic: `P/sensor_data`; `P/sensor_data/<id>` counts too. */
    data: string,
  ) {
    client.on("message", (topic, payload, packet) => {
      const text = payload.toString();
      if (topic === data || topic.startsWith(data + "/")) {
        this.readingTopics.push(topic);
        this.readings.push({ ...(JSON.parse(text) as ObservedReading), at: performance.now() });
      } else if (topic.includes("status/") && text !== "") {
        const body = JSON.parse(text) as { id: string; state: string };
        this.statuses.push({ id: body.id, state: body.state, retained: packet.retain });
      } else if (topic.includes("event/")) {
        this.events.push(JSON.parse(text) as Record<string, unknown>);
      }
    });
  }

  static async connect(url: string, name: string, prefix = ""): Promise<Observer> {
    const p = prefix !== "" ? prefix + "/" : "";
    const client = await mqtt.connectAsync(url, {
      clientId: `observer-${name}-${process.pid}`.slice(0, 23),
      clean: false,
      reconnectPeriod: RECONNECT_MS,
      protocolVersion: 4,
    });
    const observer = new Observer(client, `${p}sensor_data`);
    client.on("error", () => undefined);
    // Every later "connect" is a reconnection (connectAsync resolved on the first).
    client.on("connect", (connack) => {
      if (!connack.sessionPresent) {
        observer.sessionsLost++;
      }
    });
    await client.subscribeAsync([`${p}sensor_data`, `${p}sensor_data/+`, `${p}status/+`, `${p}event/+`], { qos: 1 });
    return observer;
  }

  /**
   * Stay offline once the connection is lost (a broker stop) until
   * comeBack(): whatever is published meanwhile has to wait in the
   * observer's persistent session on the broker.
   */
  stayAway(): void {
    this.client.options.reconnectPeriod = 0;
  }

  /** Connect again after stayAway() and a lost connection; resolves on the CONNACK (`sessionsLost` counts a lost session). */
  async comeBack(timeoutMs: number): Promise<void> {
    this.client.options.reconnectPeriod = RECONNECT_MS;
    if (!this.client.connected) {
      this.client.reconnect();
    }
    await until(() => this.client.connected, timeoutMs, "the observer to connect again");
  }

  /** Readings received, counting each (node, boot, seq) once (QoS 1 may deliver one twice). */
  distinctReadings(): number {
    return new Set(this.readings.map((r) => `${r.id}/${r.boot}/${r.seq}`)).size;
  }

  /** Readings of one node, in arrival order. */
  of(id: string): ObservedReading[] {
    return this.readings.filter((r) => r.id === id);
  }

  /** Readings per node that arrived in [from, to) (performance.now() times). */
  countBetween(from: number, to: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.readings) {
      if (r.at >= from && r.at < to) {
        counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** Seqs missing from 1..max of a node's boot, de-duplicated (QoS 1 may resend). */
  missingSeqs(id: string, boot: number): number[] {
    const seen = new Set(this.of(id).filter((r) => r.boot === boot).map((r) => r.seq));
    const max = Math.max(0, ...seen);
    const missing: number[] = [];
    for (let s = 1; s <= max; s++) {
      if (!seen.has(s)) {
        missing.push(s);
      }
    }
    return missing;
  }

  async close(): Promise<void> {
    // The connection only: the broker keeps the persistent session (each test's observer has a topic prefix of its own).
    await this.client.endAsync(true);
  }
}

/**
 * Wait until `condition` holds, polling; resolves to false after `timeoutMs`
 * if it never did. For waits whose failure the assertions after them explain
 * better than a timeout would.
 */
export async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      return false;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Wait until `condition` holds, polling; fails the test with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
