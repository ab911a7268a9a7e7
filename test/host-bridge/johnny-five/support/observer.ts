/**
 * The fleet operator's view in a test: an MQTT client on the broker that
 * records every reading, ack and event with the topic it came on. Readings
 * are taken from `sensor_data` (the default topic_data) and `sensor_data/+`
 * (topic_data `sensor_data/{id}`), so both layouts are seen.
 */
import mqtt, { type MqttClient } from "mqtt";

export interface Received {
  topic: string;
  body: Record<string, unknown>;
}

export class Observer {
  readonly readings: Received[] = [];
  readonly acks: Received[] = [];
  readonly events: Received[] = [];
  readonly statuses: Received[] = [];

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload) => {
      if (payload.length === 0) {
        return; // a retained status being cleared
      }
      const body = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
      const list = topic.startsWith("sensor_data")
        ? this.readings
        : topic.startsWith("config_ack/")
          ? this.acks
          : topic.startsWith("status/")
            ? this.statuses
            : this.events;
      list.push({ topic, body });
    });
  }

  static async connect(url: string): Promise<Observer> {
    const client = await mqtt.connectAsync(url, { clientId: `observer-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0 });
    client.on("error", () => undefined);
    await client.subscribeAsync(["sensor_data", "sensor_data/+", "config_ack/#", "event/#", "status/#"], { qos: 1 });
    return new Observer(client);
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** Wait until `find` returns something, polling; fails with `what` (worked out at the timeout) after `timeoutMs`. */
export async function waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string | (() => string)): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) {
      return found;
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
