/**
 * What the host does for each request the Lua side queued during an entry:
 * one small handler per request kind, dispatched from a table.
 */
import type { PartitionTable } from "./flash-regions";
import type { FsDir } from "./fs-dir";
import { type DeviceRequest, type Field, fieldBytes, fieldNumber, fieldText } from "./mailbox";
import type { ConnectRequest, MqttBridge } from "./mqtt-bridge";
import { type SerialLine, uartText } from "./serial-line";
import type { WifiLink } from "./wifi-link";

/** The parts of a booted device a request can touch. */
export interface RequestContext {
  tx(bytes: Buffer): void;
  setPrompt(prompt: string): void;
  restart(reason: string): void;
  deepSleep(ms: number): void;
  saveWifi(ssid: string, pwd: string, auto: boolean): void;
  sntpSync(id: number, server: string, autorepeat: boolean): void;
  setRtcmem(slot: number, value: number): void;
  setAdcMode(mode: number): void;
  /** tls.cert.verify(PEM): the CA(s) go to the tls module's flash area. */
  setTlsCa(pem: string): void;
  setTlsVerify(on: boolean): void;
  fault(message: string): void;
  /** node.setpartitiontable: store the table (the restart follows). */
  setPartitions(table: PartitionTable): void;
  /** node.LFS.reload: the named image file becomes the LFS region's contents (the restart follows). */
  lfsReload(name: string): void;
  readonly wifi: WifiLink;
  readonly mqtt: MqttBridge;
  readonly fs: FsDir;
  readonly serial: SerialLine;
}

type Handler = (ctx: RequestContext, f: Field[]) => void;

function qos(n: number): 0 | 1 | 2 {
  return n === 1 ? 1 : n === 2 ? 2 : 0;
}

function connectRequest(f: Field[]): ConnectRequest {
  const n = (i: number): number => fieldNumber(f[i]);
  const t = (i: number): string => fieldText(f[i]);
  const willTopic = t(11);
  return {
    h: n(0),
    socket: n(1),
    host: t(2),
    port: n(3),
    secure: n(4) !== 0,
    clientId: t(5),
    keepaliveSec: n(6),
    user: n(15) !== 0 ? t(7) : undefined,
    password: n(16) !== 0 ? t(8) : undefined,
    clean: n(9) !== 0,
    maxMessageLength: n(10),
    will: willTopic === "" ? undefined : { topic: willTopic, payload: fieldBytes(f[12]), qos: qos(n(13)), retain: n(14) !== 0 },
  };
}

const HANDLERS: Record<string, Handler> = {
  out: (ctx, f) => ctx.tx(uartText(fieldBytes(f[0]))),
  raw: (ctx, f) => ctx.tx(fieldBytes(f[0])),
  prompt: (ctx, f) => ctx.setPrompt(fieldText(f[0])),
  restart: (ctx, f) => ctx.restart(fieldText(f[0])),
  dsleep: (ctx, f) => ctx.deepSleep(fieldNumber(f[0])),
  fault: (ctx, f) => ctx.fault(fieldText(f[0])),
  partitions: (ctx, f) =>
    ctx.setPartitions({ lfs_addr: fieldNumber(f[0]), lfs_size: fieldNumber(f[1]), spiffs_addr: fieldNumber(f[2]), spiffs_size: fieldNumber(f[3]) }),
  lfs_reload: (ctx, f) => ctx.lfsReload(fieldText(f[0])),

  wifi_connect: (ctx, f) => ctx.wifi.connect(fieldText(f[0]), fieldNumber(f[1]) !== 0),
  wifi_disconnect: (ctx) => ctx.wifi.disconnect(),
  wifi_save: (ctx, f) => ctx.saveWifi(fieldText(f[0]), fieldText(f[1]), fieldNumber(f[2]) !== 0),

  mqtt_connect: (ctx, f) => ctx.mqtt.connect(connectRequest(f)),
  mqtt_publish: (ctx, f) =>
    ctx.mqtt.publish(fieldNumber(f[0]), fieldNumber(f[1]), fieldText(f[2]), fieldBytes(f[3]), fieldNumber(f[4]), fieldNumber(f[5]) !== 0),
  mqtt_subscribe: (ctx, f) => {
    const pairs: [string, number][] = [];
    for (let i = 2; i + 1 < f.length; i += 2) {
      pairs.push([fieldText(f[i]), fieldNumber(f[i + 1])]);
    }
    ctx.mqtt.subscribe(fieldNumber(f[0]), fieldNumber(f[1]), pairs);
  },
  mqtt_unsubscribe: (ctx, f) => ctx.mqtt.unsubscribe(fieldNumber(f[0]), fieldNumber(f[1]), f.slice(2).map(fieldText)),
  mqtt_close: (ctx, f) => ctx.mqtt.close(fieldNumber(f[0]), fieldNumber(f[1])),

  fs_put: (ctx, f) => ctx.fs.put(fieldText(f[0]), fieldNumber(f[1]), fieldNumber(f[2]), fieldBytes(f[3])),
  fs_remove: (ctx, f) => ctx.fs.remove(fieldText(f[0])),
  fs_rename: (ctx, f) => ctx.fs.rename(fieldText(f[0]), fieldText(f[1])),
  fs_format: (ctx) => ctx.fs.format(),

  sntp_sync: (ctx, f) => ctx.sntpSync(fieldNumber(f[0]), fieldText(f[1]), fieldNumber(f[2]) !== 0),
  rtcmem: (ctx, f) => ctx.setRtcmem(fieldNumber(f[0]), fieldNumber(f[1])),
  adc_mode: (ctx, f) => ctx.setAdcMode(fieldNumber(f[0])),
  tls_ca: (ctx, f) => ctx.setTlsCa(fieldText(f[0])),
  tls_verify: (ctx, f) => ctx.setTlsVerify(fieldNumber(f[0]) !== 0),
  uart_on: (ctx, f) => {
    ctx.serial.rawListener = fieldNumber(f[0]) !== 0;
    ctx.serial.runInput = !ctx.serial.rawListener || fieldNumber(f[1]) !== 0;
  },
  uart_echo: (ctx, f) => {
    ctx.serial.echo = fieldNumber(f[0]) !== 0;
  },
};

export function handleRequest(ctx: RequestContext, request: DeviceRequest): void {
  const handler = HANDLERS[request.kind];
  if (handler === undefined) {
    ctx.fault(`unknown request "${request.kind}" from the Lua side`);
    return;
  }
  handler(ctx, request.fields);
}
