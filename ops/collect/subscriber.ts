/**
 * The collector's MQTT session: a fixed client id with clean session off, so
 * the broker keeps the subscriptions and queues every QoS 1 message while
 * the collector is away, and redelivers whatever it had not acknowledged.
 *
 * Acknowledgements wait for the database. mqtt.js acknowledges a QoS 1
 * PUBLISH when `handleMessage`'s callback is called (handlers/publish.js:
 * `client.handleMessage(packet, (err) => { if (err) return done(err); …
 * _sendPacket({ cmd: 'puback' }) })`), and handles the next packet only after
 * that. So `handleMessage` here hands the message on and calls back at once
 * with an error (DEFERRED): mqtt.js then sends no PUBACK and goes on reading;
 * the PUBACK is sent by `ack()`, after the batch holding the message is
 * committed (batcher.ts). (`customHandleAcks` exists only for MQTT 5 and
 * holds the reading loop too.) An ack for a message that arrived on an
 * earlier connection is not sent: the broker delivers it again on the new
 * one, and the dedupe drops the copy.
 *
 * The handler is set before connecting (`manualConnect`): messages queued for
 * the session can arrive in the same TCP read as the CONNACK, before any code
 * waiting for 'connect' runs; a handler attached then would miss them.
 */
import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { diagnoseConnectError, mqttOptions, type BrokerTarget } from "../../broker/target";
import { CliError } from "../../common/errors";

/** Passed to handleMessage's callback: "do not acknowledge this yet". */
const DEFERRED = Object.assign(new Error("PUBACK deferred until the message is committed"), { deferred: true });

const CLOSE_TIMEOUT_MS = 3000;

/**
 * After this many messages handed on in a row, the next one waits for the
 * event loop to turn (setImmediate). mqtt.js handles the packets of a TCP
 * read one after the other in process.nextTick, which runs before any I/O:
 * a read of a backlog (64 KB, ~600 readings, ~6 ms) kept the store's reply
 * (the PGlite worker's message, each round trip of a PostgreSQL transaction)
 * waiting that long, the database idle meanwhile. ~0.6 ms now.
 */
const YIELD_EVERY = 64;

export interface SubscriberOptions {
  target: BrokerTarget;
  clientId: string;
  filters: string[];
  /** Pause between reconnect attempts, ms. */
  reconnectMs: number;
  /** Keep trying this long for the first connection, ms (0: fail at once with advice). */
  waitMs: number;
  onMessage: (topic: string, payload: Buffer, ack: () => void) => void;
  /** Aborted while the first connection is awaited (Ctrl-C, SIGTERM): give up at once and resolve undefined. */
  signal?: AbortSignal;
  /** False: stop reading from the broker until whenRoom resolves (TCP backpressure; the broker queues). */
  hasRoom: () => boolean;
  whenRoom: () => Promise<void>;
  onConnect?: (sessionPresent: boolean) => void;
  onOffline?: () => void;
}

export interface Subscriber {
  readonly client: MqttClient;
  /** Take no further message (they stay unacknowledged at the broker). */
  pause(): void;
  close(): Promise<void>;
}

/** The subscriber once connected; undefined when `signal` aborted the wait for the first connection. */
export function startSubscriber(options: SubscriberOptions & { signal?: undefined }): Promise<Subscriber>;
export function startSubscriber(options: SubscriberOptions): Promise<Subscriber | undefined>;
export function startSubscriber(options: SubscriberOptions): Promise<Subscriber | undefined> {
  const client = mqtt.connect({
    ...mqttOptions(options.target, options.clientId),
    clean: false,
    resubscribe: false,
    reconnectPeriod: options.reconnectMs,
    manualConnect: true,
  });
  let generation = 0;
  let paused = false;
  let inARow = 0;
  const sendPuback = (messageId: number, arrivedOn: number): void => {
    if (arrivedOn === generation && client.connected) {
      client["_sendPacket"]({ cmd: "puback", messageId }, () => undefined);
    }
  };
  client.handleMessage = (packet, callback) => {
    if (paused || packet.cmd !== "publish") {
      // Paused: the pump stops here; the message stays unacknowledged.
      if (!paused) {
        callback();
      }
      return;
    }
    const publish = packet as IPublishPacket;
    const arrivedOn = generation;
    const messageId = publish.messageId;
    const ack = publish.qos > 0 && messageId !== undefined ? () => sendPuback(messageId, arrivedOn) : () => undefined;
    // mqtt-packet hands a Buffer (decoded at once, not kept): no copy of it per message.
    const payload = Buffer.isBuffer(publish.payload) ? publish.payload : Buffer.from(publish.payload);
    options.onMessage(publish.topic, payload, ack);
    if (!options.hasRoom()) {
      inARow = 0;
      void options.whenRoom().then(() => callback(DEFERRED));
    } else if (++inARow >= YIELD_EVERY) {
      inARow = 0;
      setImmediate(() => callback(DEFERRED));
    } else {
      callback(DEFERRED);
    }
  };
  client.on("close", () => {
    generation++;
  });
  client.on("connect", (connack) => {
    client.subscribe(options.filters, { qos: 1 });
    options.onConnect?.(connack.sessionPresent);
  });
  client.on("offline", () => options.onOffline?.());

  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      client.removeListener("close", onClose);
      // mqtt.js 5.16: ended while its first connection is being refused, the client still schedules a
      // reconnect and keeps the process alive for good (no handle shows in _getActiveHandles); no period, no timer.
      client.options.reconnectPeriod = 0;
      client.end(true);
      resolve(undefined);
    };
    let lastError: (Error & { code?: string | number }) | undefined = undefined;
    client.on("error", (error: Error & { code?: string | number }) => {
      lastError = error;
    });
    const deadline = Date.now() + options.waitMs;
    const onClose = (): void => {
      if (Date.now() < deadline && !/not authorized|bad user name/i.test(lastError?.message ?? "")) {
        return; // mqtt.js tries again after reconnectMs
      }
      client.removeListener("close", onClose);
      options.signal?.removeEventListener("abort", onAbort);
      client.end(true);
      void diagnoseConnectError(options.target, lastError ?? new Error("connection closed before CONNACK")).then((text) => reject(new CliError(text)));
    };
    client.on("close", onClose);
    if (options.signal?.aborted === true) {
      // Stopped before connecting: no connection to end (mqtt.js' end() needs the stream connect() makes).
      client.removeListener("close", onClose);
      resolve(undefined);
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    client.once("connect", () => {
      client.removeListener("close", onClose);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({
        client,
        pause() {
          paused = true;
        },
        async close() {
          paused = true;
          // Gracefully, so the last PUBACKs written are sent before DISCONNECT; forced if the broker is gone.
          let timer: NodeJS.Timeout | undefined = undefined;
          const forced = new Promise<void>((done) => (timer = setTimeout(done, CLOSE_TIMEOUT_MS)));
          await Promise.race([client.endAsync(false), forced]);
          clearTimeout(timer);
          if (!client.disconnected) {
            await client.endAsync(true);
          }
        },
      });
    });
    client.connect();
  });
}
