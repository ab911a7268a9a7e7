/**
 * The brokers every end-to-end scenario runs against (one contract suite,
 * every broker): the embedded aedes and a real mosquitto started by the test.
 * Each can be stopped and started again on the same port for outage tests.
 */
import type { Aedes } from "aedes";
import type { BrokerTarget } from "../../../broker/target";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../../broker/embedded";
import { freePort, Mosquitto } from "./mosquitto";

export interface BrokerUnderTest {
  name: string;
  url: string;
  target: BrokerTarget;
  /** Stop the broker: every client loses its connection, new ones are refused. */
  stop(): Promise<void>;
  /** Start it again on the same port, with the persistent sessions it had. */
  start(): Promise<void>;
  close(): Promise<void>;
}

function targetFor(port: number, embedded: boolean): BrokerTarget {
  return { url: `mqtt://127.0.0.1:${port}`, host: "127.0.0.1", port, secure: false, username: "", password: "", ca: undefined, embedded };
}

export async function startAedes(): Promise<BrokerUnderTest> {
  const port = await freePort();
  let broker: EmbeddedBroker | undefined = await startEmbeddedBroker({ port });
  // Kept across restarts: the observer's persistent session and its queued messages live here.
  const persistence = (broker.aedes as Aedes & { persistence: unknown }).persistence;
  return {
    name: "aedes (embedded)",
    url: broker.url,
    target: targetFor(port, true),
    async stop() {
      await broker?.close();
      broker = undefined;
    },
    async start() {
      broker = await startEmbeddedBroker({ port, aedes: { persistence } });
    },
    async close() {
      await broker?.close();
    },
  };
}

export async function startMosquitto(): Promise<BrokerUnderTest> {
  const mosquitto = await Mosquitto.start();
  return {
    name: "mosquitto",
    url: mosquitto.url,
    target: targetFor(mosquitto.port, false),
    stop: () => mosquitto.stop(),
    start: () => mosquitto.restart(),
    close: () => mosquitto.close(),
  };
}
