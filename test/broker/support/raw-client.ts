/**
 * A bare MQTT 3.1.1 client on a socket (mqtt-packet), for tests that must
 * see what mqtt.js hides or never does: the packet ids and the DUP flag on
 * the wire, stopping half-way through a QoS 2 handshake, many PUBLISHes in
 * one write. Every packet it receives is recorded; it answers nothing by
 * itself.
 */
import { connect as tcpConnect, type Socket } from "node:net";
import mqttPacket, { type IConnackPacket, type IPublishPacket, type IPubrelPacket, type Packet } from "mqtt-packet";
import { until } from "../../e2e/support/observer";

export interface RawConnectOptions {
  /** Clean session (default false: a persistent session). */
  clean?: boolean;
}

export class RawClient {
  readonly received: Packet[] = [];
  connack: IConnackPacket | undefined = undefined;

  private constructor(private readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (packet: Packet) => {
      if (packet.cmd === "connack") {
        this.connack = packet;
      }
      this.received.push(packet);
    });
    socket.on("data", (data: Buffer) => parser.parse(data));
    socket.on("error", () => undefined);
  }

  static async connect(port: number, clientId: string, options: RawConnectOptions = {}): Promise<RawClient> {
    const socket = tcpConnect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const raw = new RawClient(socket);
    raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId, clean: options.clean ?? false, keepalive: 60 });
    await until(() => raw.connack !== undefined, 5000, "CONNACK");
    return raw;
  }

  /** Subscribe and wait for the SUBACK. */
  async subscribe(topic: string, qos: 0 | 1 | 2, messageId = 1): Promise<void> {
    this.send({ cmd: "subscribe", messageId, subscriptions: [{ topic, qos }] });
    await until(() => this.received.some((p) => p.cmd === "suback" && p.messageId === messageId), 5000, `SUBACK of ${topic}`);
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  /** Several packets in one write(2): the broker reads them in one chunk. */
  sendAll(packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
  }

  publishes(): IPublishPacket[] {
    return this.received.filter((p): p is IPublishPacket => p.cmd === "publish");
  }

  pubrels(): IPubrelPacket[] {
    return this.received.filter((p): p is IPubrelPacket => p.cmd === "pubrel");
  }

  /** Cut the connection as a crash would: no DISCONNECT. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.destroy();
    await closed;
  }
}
