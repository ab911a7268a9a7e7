/**
 * The network side of the emulated `mqtt` module: one real mqtt.js client
 * (MQTT 3.1.1, like NodeMCU) per connection attempt of a Lua client. The
 * NodeMCU quirks that live in the queue (one message in flight, one publish
 * callback slot, "not connected") are in Lua; the ones that live on the wire
 * are here:
 *   - no auto-reconnect (removed in NodeMCU PR #2822): a lost connection is
 *     reported once ("closed" -> the "offline" callback) and left for the
 *     firmware to redo;
 *   - a failed connect reports NodeMCU's reason codes (mqtt.CONN_FAIL_*,
 *     or the CONNACK return code 1-5 when the broker refuses);
 *   - an incoming PUBLISH larger than max_message_length goes to "overflow"
 *     with the part that arrived in the first TCP segment;
 *   - a reboot, a power cut or a lost wifi link closes the socket without
 *     DISCONNECT, so the broker sends the last will.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

export const CONN_FAIL = {
  SERVER_NOT_FOUND: -5,
  NOT_A_CONNACK_MSG: -4,
  DNS: -3,
  TIMEOUT_RECEIVING: -2,
  TIMEOUT_SENDING: -1,
} as const;

/** Bytes of payload that fit in the first TCP segment (Ethernet MSS), for "overflow". */
const FIRST_SEGMENT = 1460;

export interface ConnectRequest {
  h: number;
  socket: number;
  host: string;
  port: number;
  secure: boolean;
  clientId: string;
  keepaliveSec: number;
  /** undefined: no user name / password in CONNECT. */
  user: string | undefined;
  password: string | undefined;
  clean: boolean;
  maxMessageLength: number;
  will: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean } | undefined;
}

export type MqttEvent = "connack" | "connfail" | "refused" | "closed" | "sent" | "message" | "overflow";

export interface MqttBridgeOptions {
  /** Send every connection here instead of where the firmware asks (`--broker`). */
  redirect: URL | undefined;
  /** No CONNACK within this many ms: the attempt fails with CONN_FAIL_TIMEOUT_RECEIVING. */
  connectTimeoutMs: number;
  /** The device has an IP address (a connect without one fails like a TCP connect would). */
  networkUp: () => boolean;
  deliver: (h: number, socket: number, what: MqttEvent, ...args: (string | number | Buffer)[]) => void;
  /** Every PUBLISH the device put on the wire (counters, tests). */
  onPublish?: (topic: string, payload: Buffer, qos: number, retain: boolean) => void;
  /** The broker acknowledged one of them (QoS 0: written out), as the fleet's `acked` counter counts. */
  onAcked?: (topic: string) => void;
  /**
   * The `tls` module's state: whether `tls.cert.verify` is on and the CA(s)
   * in its flash area. Off (NodeMCU's default), a secure connection trusts
   * any server certificate.
   */
  tls?: () => { verify: boolean; ca: string | undefined };
}

interface Session {
  socket: number;
  client: MqttClient;
  maxMessageLength: number;
  /** "connecting" until CONNACK; "up" after; "refused" after a refusing CONNACK; "over" once reported. */
  phase: "connecting" | "up" | "refused" | "over";
  timer: NodeJS.Timeout | undefined;
}

function remainingLengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

function failReason(error: Error): number {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return CONN_FAIL.DNS;
  }
  if (code === "ETIMEDOUT") {
    return CONN_FAIL.TIMEOUT_SENDING;
  }
  return CONN_FAIL.SERVER_NOT_FOUND;
}

export class MqttBridge {
  private readonly sessions = new Map<number, Session>();
  private disposed = false;

  constructor(private readonly options: MqttBridgeOptions) {}

  private deliver(h: number, socket: number, what: MqttEvent, ...args: (string | number | Buffer)[]): void {
    if (!this.disposed) {
      this.options.deliver(h, socket, what, ...args);
    }
  }

  connect(req: ConnectRequest): void {
    this.abort(req.h);
    if (!this.options.networkUp()) {
      // No IP address: the TCP connect fails (from the event loop, never from inside the call).
      setImmediate(() => this.deliver(req.h, req.socket, "connfail", CONN_FAIL.SERVER_NOT_FOUND));
      return;
    }
    const target = this.options.redirect;
    const secure = target !== undefined ? target.protocol === "mqtts:" : req.secure;
    const opts: IClientOptions = {
      host: target !== undefined ? target.hostname : req.host,
      port: target !== undefined ? Number(target.port || (secure ? 8883 : 1883)) : req.port,
      protocol: secure ? "mqtts" : "mqtt",
      protocolVersion: 4,
      clientId: req.clientId,
      keepalive: req.keepaliveSec,
      clean: req.clean,
      reconnectPeriod: 0,
      connectTimeout: req.keepaliveSec * 1000 + this.options.connectTimeoutMs,
      resubscribe: false,
      queueQoSZero: false,
      // NodeMCU does not verify the server's certificate unless told to (tls.cert.verify).
      rejectUnauthorized: false,
    };
    const tls = this.options.tls?.();
    if (secure && tls !== undefined && tls.verify) {
      // Pinned: only the CA(s) given to tls.cert.verify, not the system's.
      opts.rejectUnauthorized = true;
      opts.ca = tls.ca;
    }
    if (req.user !== undefined) {
      opts.username = req.user;
    }
    if (req.password !== undefined) {
      opts.password = req.password;
    }
    if (req.will !== undefined) {
      opts.will = { topic: req.will.topic, payload: req.will.payload, qos: req.will.qos, retain: req.will.retain };
    }
    const client = mqtt.connect(opts);
    const session: Session = { socket: req.socket, client, maxMessageLength: req.maxMessageLength, phase: "connecting", timer: undefined };
    this.sessions.set(req.h, session);
    const current = (): boolean => this.sessions.get(req.h) === session;
    session.timer = setTimeout(() => {
      if (current() && session.phase === "connecting") {
        session.phase = "over";
        client.end(true);
        this.deliver(req.h, req.socket, "connfail", CONN_FAIL.TIMEOUT_RECEIVING);
      }
    }, this.options.connectTimeoutMs);

    client.on("connect", () => {
      if (current() && session.phase === "connecting") {
        clearTimeout(session.timer);
        session.phase = "up";
        this.deliver(req.h, req.socket, "connack");
      }
    });
    client.on("error", (error: Error & { code?: unknown }) => {
      if (!current() || session.phase !== "connecting") {
        return;
      }
      clearTimeout(session.timer);
      if (typeof error.code === "number" && error.code >= 1 && error.code <= 5) {
        session.phase = "refused";
        this.deliver(req.h, req.socket, "refused", error.code);
      } else {
        session.phase = "over";
        client.end(true);
        this.deliver(req.h, req.socket, "connfail", failReason(error));
      }
    });
    client.on("close", () => {
      if (!current()) {
        return;
      }
      clearTimeout(session.timer);
      const phase = session.phase;
      session.phase = "over";
      this.sessions.delete(req.h);
      client.end(true);
      if (phase === "up" || phase === "refused") {
        this.deliver(req.h, req.socket, "closed");
      } else if (phase === "connecting") {
        this.deliver(req.h, req.socket, "connfail", CONN_FAIL.SERVER_NOT_FOUND);
      }
    });
    client.on("message", (topic, payload, packet) => {
      if (!current() || session.phase !== "up") {
        return;
      }
      const length = packet.length ?? 2 + Buffer.byteLength(topic) + (packet.qos > 0 ? 2 : 0) + payload.length;
      const total = 1 + remainingLengthBytes(length) + length;
      if (total > session.maxMessageLength) {
        const header = total - payload.length;
        this.deliver(req.h, req.socket, "overflow", topic, payload.subarray(0, Math.max(0, FIRST_SEGMENT - header)));
      } else {
        this.deliver(req.h, req.socket, "message", topic, payload);
      }
    });
  }

  private live(h: number, socket: number): Session | undefined {
    const s = this.sessions.get(h);
    return s !== undefined && s.socket === socket && s.phase === "up" ? s : undefined;
  }

  publish(h: number, socket: number, topic: string, payload: Buffer, qos: number, retain: boolean): void {
    const s = this.live(h, socket);
    if (s === undefined) {
      return; // the socket is gone; Lua hears "closed" and drops its queue
    }
    const q = (qos > 2 ? 2 : qos < 0 ? 0 : qos) as 0 | 1 | 2;
    s.client.publish(topic, payload, { qos: q, retain }, (error) => {
      if (error == null) {
        // Acknowledged even when the Lua client moved on since: the broker has the message.
        this.options.onAcked?.(topic);
        if (this.sessions.get(h) === s) {
          this.deliver(h, socket, "sent");
        }
      }
    });
    this.options.onPublish?.(topic, payload, q, retain);
  }

  subscribe(h: number, socket: number, topics: [string, number][]): void {
    const s = this.live(h, socket);
    if (s === undefined) {
      return;
    }
    const map: Record<string, { qos: 0 | 1 | 2 }> = {};
    for (const [topic, qos] of topics) {
      map[topic] = { qos: (qos > 2 ? 2 : qos < 0 ? 0 : qos) as 0 | 1 | 2 };
    }
    s.client.subscribe(map, (error) => {
      if (error == null && this.sessions.get(h) === s) {
        this.deliver(h, socket, "sent");
      }
    });
  }

  unsubscribe(h: number, socket: number, topics: string[]): void {
    const s = this.live(h, socket);
    if (s === undefined) {
      return;
    }
    s.client.unsubscribe(topics, (error) => {
      if (error == null && this.sessions.get(h) === s) {
        this.deliver(h, socket, "sent");
      }
    });
  }

  /** m:close(): DISCONNECT (no last will), then "closed" when the socket is gone. */
  close(h: number, socket: number): void {
    const s = this.live(h, socket);
    s?.client.end(false);
  }

  /** The link went away under every connection (wifi lost): no DISCONNECT, "closed" for each. */
  dropAll(): void {
    for (const s of this.sessions.values()) {
      s.client.stream?.destroy();
    }
  }

  /** Forget connection h without telling Lua (it started a new attempt). */
  private abort(h: number): void {
    const s = this.sessions.get(h);
    if (s !== undefined) {
      clearTimeout(s.timer);
      this.sessions.delete(h);
      s.client.end(true);
    }
  }

  /** The boot is over (reboot, power off): every socket closes without DISCONNECT, nothing is delivered. */
  dispose(): void {
    this.disposed = true;
    for (const [h] of this.sessions) {
      this.abort(h);
    }
  }

  /** Connections up right now (for counters). */
  connectedCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.phase === "up") {
        n++;
      }
    }
    return n;
  }
}
