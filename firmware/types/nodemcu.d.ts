/**
 * Declarations of the NodeMCU (ESP8266, firmware 3.x) modules the firmware
 * uses. Module functions are dot calls (`@noSelf`), object methods are colon
 * calls, callbacks take no self. Only what we call is declared, so a call to
 * anything else fails to type-check instead of failing on the device.
 * Reference: nodemcu.readthedocs.io, modules/<name>.
 */

/** @noSelf */
declare namespace tmr {
  const ALARM_SINGLE: number;
  const ALARM_AUTO: number;
  const ALARM_SEMI: number;
  function create(): TmrObject;
  /** Seconds since boot (RTC based, does not wrap like tmr.now()). */
  function time(): number;
  /** Microseconds since boot; wraps at 2^31 (about 35 minutes). */
  function now(): number;
}

interface TmrObject {
  register(intervalMs: number, mode: number, fn: (this: void, t: TmrObject) => void): void;
  start(): boolean;
  stop(): boolean;
  unregister(): void;
}

/** @noSelf */
declare namespace wifi {
  const STATION: number;
  function setmode(mode: number): number;
  /** @noSelf */
  namespace sta {
    function config(cfg: { ssid: string; pwd: string; auto: boolean; save: boolean }): boolean;
    function connect(): void;
    /** IP address, or nil while the station has none. */
    function getip(): string | undefined;
  }
  /** @noSelf */
  namespace eventmon {
    const STA_GOT_IP: number;
    const STA_DISCONNECTED: number;
    function register(event: number, fn: (this: void, info: { reason?: number }) => void): void;
  }
}

interface MqttClient {
  lwt(topic: string, message: string, qos: number, retain: number): void;
  on(event: "offline", fn: (this: void, client: MqttClient) => void): void;
  on(event: "message" | "overflow", fn: (this: void, client: MqttClient, topic: string, data: string | undefined) => void): void;
  connect(
    host: string,
    port: number,
    secure: boolean,
    connected: (this: void, client: MqttClient) => void,
    failed: (this: void, client: MqttClient, reason: number) => void,
  ): boolean;
  /** Raises "not connected" when the session is down. */
  publish(topic: string, payload: string, qos: number, retain: number, done: (this: void, client: MqttClient) => void): boolean;
  subscribe(topic: string, qos: number): boolean;
  close(): boolean;
}

/** @noSelf */
declare namespace mqtt {
  function Client(
    clientId: string,
    keepaliveSec: number,
    user: string | undefined,
    password: string | undefined,
    cleanSession: number,
    maxMessageLength: number,
  ): MqttClient;
}

/** @noSelf */
declare namespace sjson {
  function encode(value: object): string;
  /** Raises on malformed input; JSON null decodes to sjson.NULL. */
  function decode(text: string): unknown;
}

interface FileObject {
  read(n: number): string | undefined;
  write(text: string): boolean | undefined;
  close(): void;
}

/** @noSelf */
declare namespace file {
  function open(name: string, mode: string): FileObject | undefined;
  function exists(name: string): boolean;
  function remove(name: string): void;
  function rename(from: string, to: string): boolean;
}

/** NodeMCU 3.x's Lua Flash Store (node.LFS); absent on firmwares without LFS support. */
interface NodeLfs {
  /** A module's main function, or nil when LFS holds no such module (or no image). */
  get(this: void, name: string): ((this: void) => unknown) | undefined;
}

/** @noSelf */
declare namespace node {
  function chipid(): number;
  function heap(): number;
  /** Restarts the chip once the current task returns. */
  function restart(): void;
  const LFS: NodeLfs | undefined;
}

/** @noSelf */
declare namespace adc {
  /** Modes of force_init_mode: the A0 pin (the default of a board fresh from esptool), or the supply voltage. */
  const INIT_ADC: number;
  const INIT_VDD33: number;
  /**
   * Sets the ADC mode of the next boot (kept in flash); true when that changed it, and then only a restart
   * applies it. Absent on very old firmwares.
   */
  const force_init_mode: ((this: void, mode: number) => boolean) | undefined;
  function read(channel: number): number;
  /** Supply voltage in mV; only when the ADC is in VDD33 mode. */
  function readvdd33(channel: number): number;
}

/** @noSelf */
declare namespace dht {
  const OK: number;
  const ERROR_CHECKSUM: number;
  const ERROR_TIMEOUT: number;
  /** Status, temperature (°C), humidity (%RH). */
  function read(pin: number): LuaMultiReturn<[number, number, number]>;
}

/** @noSelf */
declare namespace rtctime {
  /** Seconds and microseconds since the epoch; 0 when not set. */
  function get(): LuaMultiReturn<[number, number]>;
}

/** @noSelf */
declare namespace crypto {
  /** Raw (binary) HMAC of `data` under `key`; algo "sha256" among others. */
  function hmac(algo: string, data: string, key: string): string;
}

/** @noSelf */
declare namespace sntp {
  function sync(
    server: string | undefined,
    ok: ((this: void) => void) | undefined,
    fail: ((this: void) => void) | undefined,
    autorepeat: number,
  ): void;
}


/** Set by the app for inspection at the REPL (`=espfleet_node:nodeId()`). */
declare var espfleet_node: unknown;
/** Set by init.lua when the broker's CA is pinned (tls.cert.verify); secure connections need it. */
declare var espfleet_ca_pinned: boolean | undefined;
/** Set at the REPL during the boot window to keep init.lua from starting the app. */
declare var espfleet_stop: boolean | undefined;
