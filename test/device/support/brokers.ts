/**
 * Brokers for the virtual-device tests, on loopback only: aedes in this
 * process, or a real mosquitto started (and removed) by the test.
 */
import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";
import { topicMatches } from "../../../broker/topics";
import mqtt, { type MqttClient } from "mqtt";
import { Mosquitto } from "../../e2e/support/mosquitto";

export interface TestBroker {
  name: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startAedes(): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    name: "aedes",
    port,
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close();
        broker.close(() => resolve());
      }),
  };
}

/** A real mosquitto on a free loopback port (the shared launcher of test/e2e). */
export async function startMosquitto(): Promise<TestBroker> {
  const broker = await Mosquitto.start();
  return { name: "mosquitto", port: broker.port, url: broker.url, close: () => broker.close() };
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A client that records everything published on the broker. */
export class Observer {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString("utf8"), retain: packet.retain });
    });
  }

  static async connect(url: string): Promise<Observer> {
    const client = mqtt.connect(url, { reconnectPeriod: 0, clientId: `observer-${process.pid}-${Math.random().toString(16).slice(2)}` });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    const observer = new Observer(client);
    await client.subscribeAsync("#", { qos: 1 });
    return observer;
  }

  /** Messages on `topic`, an MQTT filter (`+` matches one level). */
  on(topic: string): Received[] {
    return this.messages.filter((m) => topicMatches(topic, m.topic));
  }

  json(topic: string): Record<string, unknown>[] {
    return this.on(topic).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
  }

  async publish(topic: string, payload: string): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Poll until `check` returns a value (not undefined/false) or the time is up. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
