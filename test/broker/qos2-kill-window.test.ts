/**
 * A QoS 2 message and a `kill -9` of the embedded broker on a folder
 * (session-persistence.ts, authorizePublish): aedes writes its QoS 2
 * receipt and then queues the message for the persistent sessions. Killed
 * between the two, the broker lost the message: the publisher, without a
 * PUBREC, sent it again after the restart, the receipt said "had it", and
 * the message was never queued. The message is now queued before the
 * receipt is written.
 *
 * The kill is exact, not timed: a child process runs the broker with its
 * receipt write wrapped, and kills itself (SIGKILL) right after that write
 * (the old window), or right before it (the window that is left, where the
 * message is queued and its receipt is not: it comes twice, never not).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { IPublishPacket } from "mqtt-packet";
import { describe, expect, it } from "vitest";
import { startEmbeddedBroker } from "../../broker/embedded";
import { until } from "../e2e/support/observer";
import { RawClient } from "./support/raw-client";
import { storeFolders } from "./support/store-folders";

const folder = storeFolders("qos2-kill");

const TOPIC = "t/sensor_data";
const EMBEDDED = fileURLToPath(new URL("../../broker/embedded.ts", import.meta.url));
const BROKER_STORE = fileURLToPath(new URL("../../broker/broker-store.ts", import.meta.url));

/**
 * A broker on `folder` in a child process whose receipt write kills the
 * process (SIGKILL) after it finished (`after`) or before it started
 * (`before`); resolves with its port once it listens.
 */
function brokerThatDies(folder: string, when: "before" | "after") {
  const script = [
    `import { openBrokerStore } from ${JSON.stringify(BROKER_STORE)};`,
    `import { startEmbeddedBroker } from ${JSON.stringify(EMBEDDED)};`,
    `const store = await openBrokerStore({ spec: { kind: "folder", folder: ${JSON.stringify(folder)}, ifLocked: "fail" }, queueLimit: 1000, log: () => undefined });`,
    // The receipts live in aedes-persistence-level, the persistence's inner store (a private field).
    `const inner = store.persistence.inner;`,
    `const write = inner.incomingStorePacket.bind(inner);`,
    `inner.incomingStorePacket = async (client, packet) => {`,
    when === "before" ? `  process.kill(process.pid, "SIGKILL");` : `  await write(client, packet);`,
    when === "before" ? `` : `  process.kill(process.pid, "SIGKILL");`,
    `};`,
    `const broker = await startEmbeddedBroker({ port: 0, aedes: { persistence: store.persistence } });`,
    `process.stdout.write(broker.port + "\\n");`,
  ].join("\n");
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  const port = new Promise<number>((resolve, reject) => {
    child.stdout.once("data", (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once("exit", () => reject(new Error("the broker child exited before it listened")));
  });
  return { port, exited };
}

const payloads = (list: IPublishPacket[]): string[] => list.map((p) => p.payload.toString());

describe("QoS 2 across a kill -9 of the broker between the message's receipt and its queue", () => {
  it.each([
    ["right after the receipt write (where it was lost)", "after", ["m1"]],
    ["right before the receipt write (queued without a receipt: it comes twice)", "before", ["m1", "m1"]],
  ] as const)("killed %s: the persistent session gets the message, and the publisher's handshake completes", async (_when, when, expected) => {
    const store = folder(when);
    // A persistent session subscribed at QoS 2, offline.
    let broker = await startEmbeddedBroker({ port: 0, store });
    const subscriber = await RawClient.connect(broker.port, "q2-subscriber");
    await subscriber.subscribe(TOPIC, 2);
    await subscriber.cut();
    await broker.close();

    // The publisher's QoS 2 PUBLISH reaches the receipt write, and the broker dies there.
    const dying = brokerThatDies(store.folder, when);
    const publisher = await RawClient.connect(await dying.port, "q2-publisher");
    publisher.send({ cmd: "publish", topic: TOPIC, payload: Buffer.from("m1"), qos: 2, messageId: 7, retain: false, dup: false });
    expect(await dying.exited).toBe("SIGKILL");
    // (Its connection died with the broker.)
    expect(publisher.received.some((p) => p.cmd === "pubrec")).toBe(false);

    // Restarted on the folder: the publisher sends it again (DUP, same id), as MQTT-4.4.0-1 says.
    broker = await startEmbeddedBroker({ port: 0, store });
    const again = await RawClient.connect(broker.port, "q2-publisher");
    again.send({ cmd: "publish", topic: TOPIC, payload: Buffer.from("m1"), qos: 2, messageId: 7, retain: false, dup: true });
    await until(() => again.received.some((p) => p.cmd === "pubrec" && p.messageId === 7), 5000, "PUBREC");
    again.send({ cmd: "pubrel", messageId: 7 });
    await until(() => again.received.some((p) => p.cmd === "pubcomp" && p.messageId === 7), 5000, "PUBCOMP");
    await again.cut();

    const resumed = await RawClient.connect(broker.port, "q2-subscriber");
    await until(() => resumed.publishes().length >= expected.length, 5000, `${expected.length} queued message(s)`);
    // (A moment for any further copy to arrive.)
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(payloads(resumed.publishes())).toEqual(expected);
    await resumed.cut();
    await broker.close();
  }, 60_000);
});
