/**
 * The Platform on NodeMCU modules (ESP8266, firmware 3.x, Lua 5.1 or 5.3).
 * Device quirks live here, not in the core: tmr's maximum interval, mqtt's
 * "not connected" error, sjson raising on bad input, SPIFFS without an
 * atomic rename-over, DHT sensors that must not be read twice a second.
 */
import type { MqttEvents, MqttSession, Platform, SensorRead, Timer } from "../core/platform";

/** tmr cannot count past 6,870,947 ms (1:54:30); longer periods are counted in slices. */
const TMR_MAX_MS = 6870947;
/** Bytes read from a file per call; keeps each read's string small on the heap. */
const READ_CHUNK = 256;
/** NodeMCU drops longer inbound messages (the core accepts at most 512 B anyway). */
const MQTT_MAX_MESSAGE = 1024;

class NodeMcuTimer implements Timer {
  private readonly t: TmrObject = tmr.create();

  start(ms: number, repeat: boolean, fn: (this: void) => void): void {
    this.t.unregister();
    const slices = Math.floor((ms - 1) / TMR_MAX_MS) + 1;
    let left = slices;
    const fire = (): void => {
      left--;
      if (left > 0) {
        return;
      }
      left = slices;
      if (!repeat && slices > 1) {
        this.t.unregister();
      }
      fn();
    };
    const mode = repeat || slices > 1 ? tmr.ALARM_AUTO : tmr.ALARM_SINGLE;
    this.t.register(Math.max(1, Math.floor(ms / slices)), mode, () => fire());
    this.t.start();
  }

  stop(): void {
    this.t.unregister();
  }
}

export class NodeMcuPlatform implements Platform {
  private client: MqttClient | undefined = undefined;
  private events: MqttEvents | undefined = undefined;
  private wifiIsUp = false;
  private dhtSecond = -1;
  private dhtStatus = 0;
  private dhtTemperature = 0;
  private dhtHumidity = 0;

  constructor(private readonly dhtPin: () => number) {}

  createTimer(): Timer {
    return new NodeMcuTimer();
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
    }
  }

  mqttConnect(session: MqttSession, events: MqttEvents): void {
    this.events = events;
    if (this.client === undefined) {
      // One client for the whole boot: each mqtt.Client costs heap the GC may not get back.
      const user = session.user !== "" ? session.user : undefined;
      const password = session.user !== "" ? session.password : undefined;
      const client = mqtt.Client(session.clientId, session.keepaliveSec, user, password, 1, MQTT_MAX_MESSAGE);
      client.on("offline", () => this.events?.offline());
      client.on("message", (_c, topic, data) => this.events?.message(topic, data ?? ""));
      client.on("overflow", (_c, topic, data) => this.events?.message(topic, data ?? ""));
      this.client = client;
    }
    const client = this.client;
    client.lwt(session.willTopic, session.willPayload, 1, 1);
    const [ok, err] = pcall(() =>
      client.connect(
        session.host,
        session.port,
        session.secure,
        () => events.connected(),
        (_c, reason) => events.connectFailed("code " + tostring(reason)),
      ),
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
    const [ok] = pcall(() => client.publish(topic, payload, qos, retain ? 1 : 0, () => done()));
    return ok;
  }

  mqttSubscribe(topic: string, qos: number): boolean {
    const client = this.client;
    if (client === undefined) {
      return false;
    }
    const [ok] = pcall(() => client.subscribe(topic, qos));
    return ok;
  }

  mqttClose(): void {
    const client = this.client;
    if (client !== undefined) {
      pcall(() => client.close());
    }
  }

  readSensor(name: string): SensorRead {
    if (name === "temperature" || name === "humidity") {
      return this.readDht(name);
    }
    if (name === "adc") {
      return adc.read(0);
    }
    if (name === "vdd") {
      const mv = adc.readvdd33(0);
      return mv < 65535 ? mv / 1000 : "ADC is not in VDD33 mode (adc.force_init_mode)";
    }
    return "unknown sensor";
  }

  /** One DHT read per second serves both values: the sensor needs ~1 s between reads. */
  private readDht(name: string): SensorRead {
    const second = tmr.time();
    if (second !== this.dhtSecond) {
      this.dhtSecond = second;
      const [status, temperature, humidity] = dht.read(this.dhtPin());
      this.dhtStatus = status;
      this.dhtTemperature = temperature;
      this.dhtHumidity = humidity;
    }
    if (this.dhtStatus === dht.ERROR_TIMEOUT) {
      return "DHT timeout: check wiring and dht_pin";
    }
    if (this.dhtStatus !== dht.OK) {
      return "DHT checksum error";
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
    const [ok, value] = pcall(() => sjson.decode(text));
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

  log(level: string, text: string): void {
    print("espfleet " + level + ": " + text);
  }
}
