/**
 * One virtual ESP8266 running NodeMCU: the built firmware's Lua files run
 * byte for byte on a 32-bit Lua 5.1 with the emulated modules, behind a
 * serial console (write() in, "tx" events out), against real MQTT brokers.
 *
 * Lifecycle: start() boots (banner, init.lua, prompt). node.restart(), an
 * uncaught error in a callback, a heap panic, the watchdog, deep sleep and
 * reset() all end the boot: the Lua state is thrown away, sockets close
 * without DISCONNECT, timers stop, and a fresh state runs init.lua.
 *
 * Events are delivered to Lua one at a time from a queue, never from inside
 * the entry that caused them (NodeMCU calls back from its task queue too).
 */
import { EventEmitter } from "node:events";
import { basename } from "node:path";
import { bootBanner } from "./banner";
import { handleRequest, type RequestContext } from "./device-requests";
import { DeviceError } from "./errors";
import { FlashRegions, IROM0_END, lfsVerdict, looksLikeLfsImage, type PartitionTable } from "./flash-regions";
import { FsDir } from "./fs-dir";
import { DeviceVm } from "./lua-vm";
import { type DeviceRequest, type EntryResult, fieldText } from "./mailbox";
import { MqttBridge } from "./mqtt-bridge";
import { chipIdFor, DEFAULT_FS_BYTES, DEFAULT_HEAP_KB, DEFAULT_LFS_KB, DEFAULT_MODULES, type VirtualDeviceOptions } from "./options";
import { SerialLine, uartText } from "./serial-line";
import { encodeSnapshot, type SensorSource, SimpleSensors } from "./sensors";
import { WifiLink } from "./wifi-link";

/** node.bootreason(): [raw code, extended reason] (docs/modules/node.md). */
const BOOT_REASON = {
  powerOn: [1, 0],
  exception: [2, 2],
  softWatchdog: [2, 3],
  softRestart: [2, 4],
  deepSleepWake: [2, 5],
  externalReset: [2, 6],
} as const satisfies Record<string, [number, number]>;
type BootReason = keyof typeof BOOT_REASON;

/** A reset takes the ESP8266 a moment (bootloader, SDK init) before the banner. */
const REBOOT_DELAY_MS = 20;
/** NodeMCU's sntp repeats an autorepeat sync every 1000 s. */
const SNTP_REPEAT_MS = 1_000_000;

export interface DeviceEvents {
  /** Bytes the device sends on its serial port (UART form: "\r\n" line ends). */
  tx: [bytes: Buffer];
  /** A boot started (1 = the first). */
  boot: [count: number, reason: BootReason];
  /** The Lua heap passed the budget; the device reboots. */
  panic: [usedBytes: number, budgetBytes: number];
  /** The boot is ending for this reason ("restart", "error", "panic", "watchdog", "reset", "dsleep"). */
  restart: [reason: string];
  /** A PUBLISH the device put on the wire. */
  publish: [topic: string, payload: Buffer];
  /** The broker acknowledged a PUBLISH (PUBACK/PUBCOMP; QoS 0: it was written out). */
  acked: [topic: string];
  /** An error in the emulator itself (a bug in this code, not the firmware's). */
  fault: [message: string];
}

interface QueuedEvent {
  kind: string;
  args: (string | number | Buffer)[];
}

interface Boot {
  vm: DeviceVm;
  mqtt: MqttBridge;
  startedAt: number;
  queue: QueuedEvent[];
  drainScheduled: boolean;
  tickQueued: boolean;
  timer: NodeJS.Timeout | undefined;
  sntpTimers: NodeJS.Timeout[];
  ending: boolean;
  ctx: RequestContext;
}

export class VirtualDevice extends EventEmitter<DeviceEvents> {
  readonly id: string;
  readonly fs: FsDir;
  /** The partition table and the LFS region (kept in the device's folder). */
  readonly flash: FlashRegions;
  readonly wifi: WifiLink;
  readonly sensors: SensorSource;
  readonly budgetBytes: number;
  readonly modules: readonly string[];
  private readonly serial: SerialLine;
  private readonly chipId: number;
  private readonly seed: number;
  private readonly redirect: URL | undefined;
  private boot: Boot | undefined = undefined;
  private bootCount = 0;
  private prompt = "> ";
  private stopped = true;
  private pendingTimer: NodeJS.Timeout | undefined = undefined;
  /** Kept across reboots (lost at power-off, i.e. when the process ends). */
  private readonly rtcmem: number[] = new Array<number>(128).fill(0);
  private adcMode: number;
  private wifiSaved: { ssid: string; pwd: string; auto: boolean } | undefined = undefined;
  /** The tls module's certificate flash area (tls.cert.verify(PEM)); kept across reboots, lost at power-off. */
  private tlsCa: string | undefined = undefined;
  /** tls.cert.verify on: a RAM flag on NodeMCU, so off again after every boot. */
  private tlsVerify = false;
  /** Heap the firmware held after the last entry, in bytes. */
  lastUsedBytes = 0;
  readonly stats = { entries: 0, boots: 0, panics: 0, publishes: 0, faults: 0 };

  constructor(private readonly options: VirtualDeviceOptions) {
    super();
    this.id = options.id ?? basename(options.fsDir);
    this.fs = new FsDir(options.fsDir);
    this.flash = new FlashRegions(options.fsDir, {
      lfsBytes: options.lfsBytes ?? DEFAULT_LFS_KB * 1024,
      spiffsBytes: options.fsTotalBytes ?? DEFAULT_FS_BYTES,
    });
    this.chipId = options.chipId ?? chipIdFor(this.id);
    this.seed = options.seed ?? this.chipId;
    this.budgetBytes = Math.round((options.heapKb ?? DEFAULT_HEAP_KB) * 1024);
    this.adcMode = options.adcMode ?? 0;
    this.modules = options.modules ?? DEFAULT_MODULES;
    this.sensors = options.sensors ?? new SimpleSensors(this.seed);
    if (options.broker !== undefined) {
      let url: URL;
      try {
        url = new URL(options.broker);
      } catch {
        throw new DeviceError(`--broker ${options.broker} is not a URL; use e.g. mqtt://127.0.0.1:1883`);
      }
      if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
        throw new DeviceError(`--broker ${options.broker}: only mqtt:// and mqtts:// are supported`);
      }
      this.redirect = url;
    }
    const ipHost = (this.chipId % 250) + 2;
    this.wifi = new WifiLink({
      joinDelayMs: options.wifiJoinDelayMs ?? 1000,
      retryMs: options.wifiRetryMs ?? 3000,
      ip: options.ip ?? `192.168.4.${ipHost}`,
      netmask: "255.255.255.0",
      gateway: "192.168.4.1",
      bssid: "02:e5:f1:ee:70:01",
      channel: 6,
    });
    this.serial = new SerialLine({
      tx: (bytes) => this.emit("tx", bytes),
      line: (text) => this.post("line", text),
      emptyLine: () => this.emit("tx", uartText(this.prompt)),
      raw: (bytes) => this.post("uart", bytes),
    });
  }

  /** Power on. */
  start(): void {
    if (!this.stopped) {
      return;
    }
    this.stopped = false;
    this.startBoot("powerOn");
  }

  /** Power off: the boot ends, sockets close without DISCONNECT. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.pendingTimer);
    this.endBoot();
  }

  /** The reset button (or DTR/RTS): reboot now. */
  reset(): void {
    if (this.stopped) {
      return;
    }
    this.emit("restart", "reset");
    this.endBoot();
    this.later(REBOOT_DELAY_MS, () => this.startBoot("externalReset"));
  }

  /** Bytes arriving on the device's serial port. */
  write(data: Buffer | string): void {
    if (this.boot !== undefined && !this.boot.ending) {
      this.serial.feed(typeof data === "string" ? Buffer.from(data, "utf8") : data);
    }
  }

  get running(): boolean {
    return this.boot !== undefined && !this.boot.ending;
  }

  /** ms since this boot started. */
  uptimeMs(): number {
    return this.boot === undefined ? 0 : performance.now() - this.boot.startedAt;
  }

  /** The firmware's live heap now (after a full collection), in bytes; undefined between boots. */
  heapBytes(): number | undefined {
    return this.boot?.vm.heapBytes();
  }

  /** Run Lua directly in the current boot's state (tests, debugging; bypasses the mailbox). */
  debugRun(code: string): string[] {
    if (this.boot === undefined) {
      throw new DeviceError(`virtual device ${this.id} is not running`);
    }
    return this.boot.vm.debugRun(code);
  }

  mqttConnections(): number {
    return this.boot?.mqtt.connectedCount() ?? 0;
  }

  private later(ms: number, fn: () => void): void {
    clearTimeout(this.pendingTimer);
    this.pendingTimer = setTimeout(() => {
      this.pendingTimer = undefined;
      if (!this.stopped) {
        fn();
      }
    }, ms);
  }

  private startBoot(reason: BootReason): void {
    this.bootCount++;
    this.stats.boots++;
    this.prompt = "> ";
    this.serial.reset();
    const luaVersion = this.options.luaVersion ?? "5.1";
    this.emit("tx", uartText(bootBanner(this.modules, luaVersion)));
    const partitions = this.flash.partitionTable();
    const files = this.fs.loadAll();
    const lfsVerdicts: Record<string, string> = {};
    for (const [name, data] of files) {
      if (looksLikeLfsImage(data)) {
        lfsVerdicts[name] = lfsVerdict(data, partitions.lfs_size);
      }
    }
    const lfs = this.flash.lfsContents();
    const vm = new DeviceVm(
      luaVersion,
      {
        modules: this.modules,
        budgetBytes: this.budgetBytes,
        chipId: this.chipId,
        flashId: 1458400,
        mac: "5c:cf:7f:" + [16, 8, 0].map((s) => ((this.chipId >> s) & 0xff).toString(16).padStart(2, "0")).join(":"),
        fsTotalBytes: partitions.spiffs_size,
        adcMode: this.adcMode,
        bootReason: [...BOOT_REASON[reason]],
        rtcmem: this.rtcmem,
        wifiSaved: this.wifiSaved,
        tlsCaStored: this.tlsCa !== undefined,
        seed: this.seed + this.bootCount,
        wdtSeconds: this.options.wdtSeconds ?? 3.2,
        partitions,
        irom0End: IROM0_END,
        lfsUsedBytes: lfs?.usedBytes ?? 0,
        lfsTime: lfs?.timestamp,
        lfsVerdicts,
      },
      files,
      lfs?.modules,
    );
    const mqtt = new MqttBridge({
      redirect: this.redirect,
      connectTimeoutMs: this.options.mqttConnectTimeoutMs ?? 10_000,
      networkUp: () => this.wifi.isUp(),
      deliver: (h, socket, what, ...args) => this.post("mqtt", h, socket, what, ...args),
      onPublish: (topic, payload) => {
        this.stats.publishes++;
        this.emit("publish", topic, payload);
      },
      onAcked: (topic) => this.emit("acked", topic),
      tls: () => ({ verify: this.tlsVerify, ca: this.tlsCa }),
    });
    this.tlsVerify = false;
    const boot: Boot = {
      vm,
      mqtt,
      startedAt: performance.now(),
      queue: [],
      drainScheduled: false,
      tickQueued: false,
      timer: undefined,
      sntpTimers: [],
      ending: false,
      ctx: this.requestContext(mqtt),
    };
    this.boot = boot;
    this.wifi.attach(
      (what, ...args) => this.post("wifi", what, ...args),
      () => mqtt.dropAll(),
    );
    if (this.wifiSaved?.auto === true) {
      // The SDK joins the saved network by itself at power-up, before init.lua runs.
      this.wifi.connect(this.wifiSaved.ssid, false);
    }
    this.emit("boot", this.bootCount, reason);
    this.post("boot");
  }

  /** The current boot ends: nothing of it runs or is delivered any more. */
  private endBoot(): void {
    const boot = this.boot;
    if (boot === undefined) {
      return;
    }
    this.boot = undefined;
    boot.ending = true;
    clearTimeout(boot.timer);
    for (const t of boot.sntpTimers) {
      clearTimeout(t);
    }
    this.wifi.detach();
    boot.mqtt.dispose();
    boot.vm.close();
    this.serial.reset();
  }

  private requestContext(mqtt: MqttBridge): RequestContext {
    return {
      tx: (bytes) => this.emit("tx", bytes),
      setPrompt: (prompt) => {
        this.prompt = prompt;
        this.emit("tx", uartText(prompt));
      },
      restart: (reason) => this.restartSoon(reason === "error" ? "error" : "restart"),
      deepSleep: (ms) => {
        this.emit("restart", "dsleep");
        this.endBoot();
        // node.dsleep(0) sleeps until the reset pin: only reset() wakes it.
        if (ms > 0) {
          this.later(Math.max(REBOOT_DELAY_MS, ms), () => this.startBoot("deepSleepWake"));
        }
      },
      saveWifi: (ssid, pwd, auto) => {
        this.wifiSaved = { ssid, pwd, auto };
      },
      sntpSync: (id, server, autorepeat) => this.sntpSync(id, server, autorepeat),
      setRtcmem: (slot, value) => {
        this.rtcmem[slot] = value;
      },
      setAdcMode: (mode) => {
        this.adcMode = mode;
      },
      setTlsCa: (pem) => {
        this.tlsCa = pem;
      },
      setTlsVerify: (on) => {
        this.tlsVerify = on;
      },
      fault: (message) => this.fault(message),
      setPartitions: (table) => this.setPartitions(table),
      lfsReload: (name) => this.lfsReload(name),
      wifi: this.wifi,
      mqtt,
      fs: this.fs,
      serial: this.serial,
    };
  }

  /** node.setpartitiontable: the new table holds from the next boot; a moved SPIFFS comes up formatted. */
  private setPartitions(table: PartitionTable): void {
    const { spiffsMoved } = this.flash.setPartitionTable(table);
    if (spiffsMoved) {
      // The firmware finds no file system where SPIFFS now starts and formats it at boot.
      this.fs.format();
      this.emit("tx", uartText("Formatting file system. Please wait...\n"));
    }
  }

  /**
   * node.LFS.reload past the checks Lua could make: the image becomes the LFS
   * region's contents (the restart follows). An image written in this very
   * boot was not checked yet: checked now, and a bad one leaves the region as
   * it was, with the device's message.
   */
  private lfsReload(name: string): void {
    const image = this.fs.read(name);
    const verdict = image === undefined ? "LFS image file not found" : lfsVerdict(image, this.flash.partitionTable().lfs_size);
    if (image === undefined || verdict !== "ok") {
      this.emit("tx", uartText(`${verdict}\n`));
      return;
    }
    this.flash.storeLfs(image);
  }

  /** After writes in an entry: the host's check of each image file, for node.LFS.reload in later entries. */
  private checkImageFiles(boot: Boot, requests: readonly DeviceRequest[]): void {
    const written = new Set<string>();
    for (const request of requests) {
      const field = request.kind === "fs_put" ? request.fields[0] : request.kind === "fs_rename" ? request.fields[1] : undefined;
      if (field !== undefined) {
        written.add(fieldText(field));
      }
    }
    const lfsBytes = this.flash.partitionTable().lfs_size;
    for (const name of written) {
      const data = this.fs.read(name);
      if (data !== undefined && looksLikeLfsImage(data) && !boot.ending) {
        this.post("lfs_verdict", name, lfsVerdict(data, lfsBytes));
      }
    }
  }

  private restartSoon(reason: "restart" | "error"): void {
    const boot = this.boot;
    if (boot === undefined || boot.ending) {
      return;
    }
    boot.ending = true;
    this.emit("restart", reason);
    // The rest of this entry's output is already out; give the port a moment, as system_restart does.
    this.later(REBOOT_DELAY_MS, () => {
      this.endBoot();
      this.startBoot("softRestart");
    });
  }

  private sntpSync(id: number, server: string, autorepeat: boolean): void {
    const boot = this.boot;
    if (boot === undefined) {
      return;
    }
    const answer = (): void => {
      if (this.wifi.isUp()) {
        const now = Date.now();
        this.post("sntp", id, "ok", Math.floor(now / 1000), (now % 1000) * 1000, server);
      } else {
        this.post("sntp", id, "fail", 1, "no network"); // sntp: 1 = DNS lookup failed
      }
    };
    boot.sntpTimers.push(setTimeout(answer, 50));
    if (autorepeat) {
      boot.sntpTimers.push(setInterval(answer, SNTP_REPEAT_MS));
    }
  }

  private fault(message: string): void {
    this.stats.faults++;
    this.emit("fault", message);
    this.emit("tx", uartText(`\nvirtual device: internal error (a bug in the emulator, not the firmware): ${message}\n`));
    this.restartSoon("error");
  }

  /** Queue an event for Lua; delivered from the event loop, in order. */
  private post(kind: string, ...args: (string | number | Buffer)[]): void {
    const boot = this.boot;
    if (boot === undefined || boot.ending) {
      return;
    }
    if (kind === "tick") {
      if (boot.tickQueued) {
        return;
      }
      boot.tickQueued = true;
    }
    boot.queue.push({ kind, args });
    if (!boot.drainScheduled) {
      boot.drainScheduled = true;
      setImmediate(() => this.drain(boot));
    }
  }

  private drain(boot: Boot): void {
    boot.drainScheduled = false;
    while (this.boot === boot && !boot.ending && boot.queue.length > 0) {
      const event = boot.queue.shift() as QueuedEvent;
      if (event.kind === "tick") {
        boot.tickQueued = false;
      }
      this.enter(boot, event);
    }
  }

  private enter(boot: Boot, event: QueuedEvent): void {
    const now = performance.now() - boot.startedAt;
    const args = [...event.args];
    if (event.kind === "tick" || event.kind === "line") {
      args.push(encodeSnapshot(this.sensors.sample(now)));
    }
    let result: EntryResult;
    try {
      result = boot.vm.enter(now, event.kind, ...args);
    } catch (error) {
      this.fault(`entry "${event.kind}" failed: ${(error as Error).message}`);
      return;
    }
    this.stats.entries++;
    this.lastUsedBytes = result.usedBytes;
    for (const request of result.requests) {
      try {
        handleRequest(boot.ctx, request);
      } catch (error) {
        this.fault(`request "${request.kind}" failed on the host: ${(error as Error).stack ?? String(error)}`);
      }
    }
    this.checkImageFiles(boot, result.requests);
    if (result.status === "panic") {
      this.panic(boot, result.usedBytes);
      return;
    }
    if (result.status === "wdt") {
      this.watchdog(boot);
      return;
    }
    if (result.status === "fault") {
      return; // handleRequest reported it and scheduled the restart
    }
    if (event.kind === "line" && !boot.ending) {
      this.serial.resume();
    }
    this.armTimer(boot, result.nextDueMs, now);
  }

  /** One host timer per device: it wakes Lua when its next tmr or task is due. */
  private armTimer(boot: Boot, dueMs: number, now: number): void {
    clearTimeout(boot.timer);
    boot.timer = undefined;
    if (dueMs < 0 || boot.ending) {
      return;
    }
    boot.timer = setTimeout(
      () => {
        boot.timer = undefined;
        this.post("tick");
      },
      Math.max(0, dueMs - now),
    );
  }

  private panic(boot: Boot, usedBytes: number): void {
    this.stats.panics++;
    boot.ending = true;
    this.emit("panic", usedBytes, this.budgetBytes);
    this.emit("restart", "panic");
    const kb = (n: number): string => (n / 1024).toFixed(1);
    this.emit(
      "tx",
      uartText(
        "PANIC: unprotected error in call to Lua API (not enough memory)\n" +
          `virtual device: the Lua heap reached ${kb(usedBytes)} KB, over the ${kb(this.budgetBytes)} KB budget; rebooting\n`,
      ),
    );
    this.later(REBOOT_DELAY_MS, () => {
      this.endBoot();
      this.startBoot("exception");
    });
  }

  private watchdog(boot: Boot): void {
    boot.ending = true;
    this.emit("restart", "watchdog");
    const seconds = this.options.wdtSeconds ?? 3.2;
    this.emit("tx", uartText(`\nvirtual device: watchdog reset: Lua ran ${seconds} s without returning to the SDK\n`));
    this.later(REBOOT_DELAY_MS, () => {
      this.endBoot();
      this.startBoot("softWatchdog");
    });
  }
}
