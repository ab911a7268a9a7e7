/**
 * The Platform on NodeMCU modules (ESP8266, firmware 3.x, Lua 5.1 or 5.3).
 * Device quirks live here, not in the core: tmr's maximum interval, mqtt's
 * "not connected" error, sjson raising on bad input, SPIFFS without an
 * atomic rename-over, DHT sensors that must not be read twice a second.
 *
 * Heap: everything here stays loaded while the node runs. NodeMCU calls that
 * may raise go through `pcall(method, object, ...)` rather than a closure per
 * call, and callbacks are handed on as they are where the extra arguments
 * NodeMCU passes (the timer, the client) do no harm.
 */
import type { CfgModule, MqttEvents, MqttSession, Platform, SensorRead, Timer } from "../core/platform";

/** tmr cannot count past 6,870,947 ms (1:54:30); longer periods are counted in slices. */
const TMR_MAX_MS = 6870947;
/** Bytes read from a file per call; keeps each read's string small on the heap. */
const READ_CHUNK = 256;
/** NodeMCU drops longer inbound messages (the core accepts at most 512 B anyway). */
const MQTT_MAX_MESSAGE = 1024;

/** A timer: its tmr object; the methods come from TIMER_METHODS. */
interface NodeMcuTimer {
  readonly t: TmrObject;
}

/**
 * The Timer methods, one table shared by every timer (through TIMER_META)
 * rather than a class: a TypeScriptToLua class is a class table and a
 * prototype, a few hundred bytes of heap for two methods.
 */
const TIMER_METHODS = {
  start(this: NodeMcuTimer, ms: number, repeat: boolean, fn: (this: void) => void): void {
    const t = this.t;
    t.unregister();
    if (ms <= TMR_MAX_MS) {
      // 1 ms is tmr's shortest interval (a flush gap of 0 ms).
      t.register(Math.max(1, ms), repeat ? tmr.ALARM_AUTO : tmr.ALARM_SINGLE, fn);
    } else {
      const slices = Math.floor((ms - 1) / TMR_MAX_MS) + 1;
      let left = slices;
      t.register(Math.floor(ms / slices), tmr.ALARM_AUTO, () => {
        left--;
        if (left > 0) {
          return;
        }
        left = slices;
        if (!repeat) {
          t.unregister();
        }
        fn();
      });
    }
    t.start();
  },

  stop(this: NodeMcuTimer): void {
    this.t.unregister();
  },
};
const TIMER_META = { __index: TIMER_METHODS };

/**
 * pcall typed for dht.read's four results (lua-types gives pcall one result).
 * An alias, not a cast at the call: a cast hides the multiple return from
 * TypeScriptToLua, which then emits unpack() of a non-table.
 */
const pcallDhtRead = pcall as unknown as (
  this: void,
  read: typeof dht.read,
  pin: number,
) => LuaMultiReturn<[boolean, number | string, number, number]>;

interface PendingDone {
  done: (this: void) => void;
  next: PendingDone | undefined;
}

export class NodeMcuPlatform implements Platform {
  private client: MqttClient | undefined;
  private events: MqttEvents | undefined;
  private wifiIsUp = false;
  /**
   * Publish callbacks in send order. NodeMCU's client has ONE publish-callback
   * slot, overwritten by every publish and called for every PUBACK (mqtt.c,
   * and the docs: "the last callback function defined will be called for ALL
   * publish commands"), so a callback passed per publish would be lost.
   */
  private doneHead: PendingDone | undefined;
  private doneTail: PendingDone | undefined;
  private readonly published = (): void => {
    const head = this.doneHead;
    if (head !== undefined) {
      this.doneHead = head.next;
      if (this.doneHead === undefined) {
        this.doneTail = undefined;
      }
      head.done();
    }
  };
  /** The last DHT read: when (tmr.now(), µs; -1 = never) and its two results (a value, or why the read failed). */
  private dhtAt = -1;
  private dhtTemperature: SensorRead = 0;
  private dhtHumidity: SensorRead = 0;
  /**
   * @param builtin the core's cold code as bundled in app.lua, returned by
   *   loadModule while set: main.ts clears it after boot when cfg.lc or
   *   cfg.lua on flash can be loaded, so the bundled copy can be collected.
   * @param dhtPin the DHT data pin of the live config.
   */
  constructor(
    public builtin: CfgModule | undefined,
    private readonly dhtPin: () => number,
  ) {}

  /**
   * The bundled copy while kept, else the module in LFS (its code is in
   * flash: only the module's data takes heap, for this call only), else
   * cfg.lc (stripped bytecode: the least heap off LFS), or cfg.lua when that
   * does not load, from the file system for this call only.
   * (loadfile, not `load` with a Lua reader: Lua 5.1 builds a binary chunk
   * without GC write barriers, so a reader that lets the GC run corrupts it.)
   */
  loadModule(): CfgModule {
    const builtin = this.builtin;
    if (builtin !== undefined) {
      return builtin;
    }
    const lfs = node.LFS;
    const inFlash = lfs !== undefined ? lfs.get("cfg") : undefined;
    if (inFlash !== undefined) {
      return inFlash() as CfgModule;
    }
    const [chunk, err] = loadfile("cfg.lc");
    if (chunk !== undefined) {
      return chunk() as CfgModule;
    }
    // e.g. bytecode of another Lua (a Lua 5.3 firmware): the source still loads.
    const [source, why] = loadfile("cfg.lua");
    if (source === undefined) {
      // One was loadable at boot: removed or damaged since. Reboot; the next boot keeps the bundled copy or finds them.
      error("espfleet: cannot load the config code: " + err + "; " + why);
    }
    return source() as CfgModule;
  }

  createTimer(): Timer {
    const timer: NodeMcuTimer = { t: tmr.create() };
    return setmetatable(timer, TIMER_META) as unknown as Timer;
  }

  wifiConnect(ssid: string, password: string, up: (this: void) => void, down: (this: void, reason: string) => void): void {
    wifi.setmode(wifi.STATION);
    wifi.eventmon.register(wifi.eventmon.STA_GOT_IP, () => {
      this.wifiIsUp = true;
      if (typeof sntp !== "undefined") {
        // Wall-clock time for readings; repeats hourly by itself.
        sntp.sync(undefined, undefined, undefined, 1);
      }
      up();
    });
    wifi.eventmon.register(wifi.eventmon.STA_DISCONNECTED, (info) => {
      // The SDK retries by itself and reports every failed try; tell the core once.
      if (this.wifiIsUp) {
        this.wifiIsUp = false;
        down("wifi disconnected, reason " + tostring(info.reason));
      }
    });
    if (ssid !== "") {
      wifi.sta.config({ ssid: ssid, pwd: password, auto: true, save: false });
    } else {
      this.log("warn", "no wifi_ssid in config.json; using the station config saved in flash");
      wifi.sta.connect();
      // The station may have joined from flash during init.lua's boot window: that
      // STA_GOT_IP fired before we listened, and connect() while joined says nothing.
      const check = tmr.create();
      check.register(1, tmr.ALARM_SINGLE, () => {
        if (!this.wifiIsUp && wifi.sta.getip() !== undefined) {
          this.wifiIsUp = true;
          up();
        }
      });
      check.start();
    }
  }

  mqttConnect(session: MqttSession, events: MqttEvents): void {
    this.events = events;
    if (session.secure && espfleet_ca_pinned !== true) {
      // Unverified TLS would trust any server; init.lua pins ca.pem (./flash.sh --ca).
      const tell = tmr.create();
      tell.register(10, tmr.ALARM_SINGLE, () => events.connectFailed("mqtt_secure needs the broker CA: upload ca.pem"));
      tell.start();
      return;
    }
    let client = this.client;
    if (client === undefined) {
      // One client for the whole boot: each mqtt.Client costs heap the GC may not get back.
      const user = session.user !== "" ? session.user : undefined;
      const password = session.user !== "" ? session.password : undefined;
      client = mqtt.Client(session.clientId, session.keepaliveSec, user, password, 1, MQTT_MAX_MESSAGE);
      const message = (_c: MqttClient, topic: string, data: string | undefined): void => this.events?.message(topic, data ?? "");
      client.on("offline", () => {
        this.doneHead = undefined;
        this.doneTail = undefined;
        this.events?.offline();
      });
      client.on("message", message);
      client.on("overflow", message);
      this.client = client;
    }
    this.doneHead = undefined;
    this.doneTail = undefined;
    client.lwt(session.willTopic, session.willPayload, 1, 1);
    const [ok, err] = pcall(
      // eslint-disable-next-line @typescript-eslint/unbound-method -- pcall passes `client` as self
      client.connect,
      client,
      session.host,
      session.port,
      session.secure,
      events.connected,
      (_c, reason) => events.connectFailed("code " + tostring(reason)),
    );
    if (!ok) {
      // Raised synchronously (e.g. bad host string); report it like any failed attempt.
      const tell = tmr.create();
      tell.register(10, tmr.ALARM_SINGLE, () => events.connectFailed(tostring(err)));
      tell.start();
    }
  }

  mqttPublish(topic: string, payload: string, qos: number, retain: boolean, done: (this: void) => void): boolean {
    const client = this.client;
    if (client === undefined) {
      return false;
    }
    // eslint-disable-next-line @typescript-eslint/unbound-method -- pcall passes `client` as self
    const [ok] = pcall(client.publish, client, topic, payload, qos, retain ? 1 : 0, this.published);
    if (ok) {
      const entry: PendingDone = { done: done, next: undefined };
      if (this.doneTail !== undefined) {
        this.doneTail.next = entry;
      } else {
        this.doneHead = entry;
      }
      this.doneTail = entry;
    }
    return ok;
  }

  mqttSubscribe(topic: string, qos: number): boolean {
    const client = this.client;
    if (client === undefined) {
      return false;
    }
    // eslint-disable-next-line @typescript-eslint/unbound-method -- pcall passes `client` as self
    const [ok] = pcall(client.subscribe, client, topic, qos);
    return ok;
  }

  mqttClose(): void {
    const client = this.client;
    if (client !== undefined) {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- pcall passes `client` as self
      pcall(client.close, client);
    }
  }

  readSensor(name: string): SensorRead {
    if (name === "adc") {
      return adc.read(0);
    }
    if (name === "vdd") {
      const mv = adc.readvdd33(0);
      return mv < 65535 ? mv / 1000 : "ADC not in VDD33 mode: list vdd without adc, then restart";
    }
    if (name !== "temperature" && name !== "humidity") {
      return "unknown sensor";
    }
    // One DHT read serves both values for 1 s: the sensor needs >= 1 s between reads.
    // tmr.now() is µs and wraps at 2^31; a whole second, not a tmr.time() tick, must have passed.
    const now = tmr.now();
    let since = now - this.dhtAt;
    if (since < 0) {
      since = since + 2147483648;
    }
    if (this.dhtAt < 0 || since >= 1000000) {
      this.dhtAt = now;
      // pcall: dht.read raises on a pin it does not know; that must not crash the sample timer.
      const [ran, status, temperature, humidity] = pcallDhtRead(dht.read, this.dhtPin());
      const failed = !ran
        ? "DHT read failed: " + tostring(status)
        : status === dht.ERROR_TIMEOUT
          ? "DHT timeout: check wiring and dht_pin"
          : status !== dht.OK
            ? "DHT checksum error"
            : undefined;
      this.dhtTemperature = failed ?? temperature;
      this.dhtHumidity = failed ?? humidity;
    }
    return name === "temperature" ? this.dhtTemperature : this.dhtHumidity;
  }

  readFile(name: string): string | undefined {
    // A write cut between remove and rename leaves only the new copy: take it.
    const path = file.exists(name) ? name : file.exists(name + ".new") ? name + ".new" : undefined;
    if (path === undefined) {
      return undefined;
    }
    const f = file.open(path, "r");
    if (f === undefined) {
      return undefined;
    }
    let text = "";
    let chunk = f.read(READ_CHUNK);
    while (chunk !== undefined) {
      text = text + chunk;
      chunk = f.read(READ_CHUNK);
    }
    f.close();
    return text;
  }

  /** Write a copy, then swap it in: a reset mid-write never leaves a half file. */
  writeFile(name: string, contents: string): boolean {
    const temp = name + ".new";
    const f = file.open(temp, "w");
    if (f === undefined) {
      return false;
    }
    const written = f.write(contents);
    f.close();
    if (written !== true) {
      file.remove(temp);
      return false;
    }
    file.remove(name);
    return file.rename(temp, name);
  }

  encodeJson(value: object): string {
    return sjson.encode(value);
  }

  decodeJson(text: string): unknown {
    const [ok, value] = pcall(sjson.decode, text);
    return ok ? value : undefined;
  }

  random(): number {
    return math.random();
  }

  uptimeSec(): number {
    return tmr.time();
  }

  unixTimeSec(): number {
    if (typeof rtctime === "undefined") {
      return 0;
    }
    const [seconds] = rtctime.get();
    return seconds;
  }

  defaultNodeId(): string {
    return "esp8266-" + tostring(node.chipid());
  }

  hmacSha256Hex(key: string, message: string): string | undefined {
    if (typeof crypto === "undefined") {
      return undefined;
    }
    // Hex by hand rather than encoder.toHex: one module fewer to build in.
    const [hex] = string.gsub(crypto.hmac("sha256", message, key), ".", (c: string) => string.format("%02x", string.byte(c)));
    return hex;
  }

  log(level: string, text: string): void {
    print("espfleet " + level + ": " + text);
  }
}
