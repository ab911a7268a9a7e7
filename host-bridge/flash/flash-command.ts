/**
 * `espfleet flash` (what ./flash.sh runs), the `esphome run` of this
 * project: build the firmware, optionally write a NodeMCU image, write the
 * node's config.json from the settings, upload with verification, restart,
 * and follow the console.
 *   ./flash.sh --port auto --monitor
 *   ./flash.sh --port /dev/ttyUSB0 --firmware nodemcu.bin --ssid home --broker mqtt://10.0.0.2
 *   ./flash.sh --virtual --monitor          (no board: a virtual ESP8266 and an embedded broker)
 * The app runs from LFS (lfs-step.ts): lfs.img is uploaded too, init.lua
 * loads it; a board without an LFS partition gets one with --yes (or a yes
 * at the terminal); --no-lfs keeps the .lc files.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { CliError } from "../../common/errors";
import { loadFleetKey } from "../../common/fleet-key";
import { followConsole } from "../monitor/console-monitor";
import { closePort, noSuchPortError, openConsolePort } from "../monitor/open-console-port";
import { CA_FILE, readBrokerCa } from "./broker-ca";
import { DEFAULT_ENV_PATH, readEnvFile, writeEnvFileValues } from "./env-file";
import { buildFirmwareInto, filesToUpload, readModules } from "./firmware-build";
import { buildNodeConfig, urlSecrets } from "./node-config";
import { resolvePortArgument } from "./port-detect";
import { ImageProgressView, UploadProgressView } from "./progress";
import { emptyLfsImage, LFS_MODULES, readBuildLfsImage } from "./lfs-image";
import type { LfsRequest } from "./lfs-step";
import { askMissing, askYesNo } from "./prompt";
import { SecretMasker } from "../../common/secrets";
import { colourEnabled } from "../../common/colour";
import { DEFAULT_ENV_FILE, describeMissing, describeSettings, resolveSettings, SETTINGS, type SettingKey, type SettingValues } from "./settings";
import { startVirtualBoard, VIRTUAL_LFS_KB, type VirtualBoard } from "./virtual-board";

/**
 * After questions at the terminal: offer to keep the answers in the settings
 * file for the next run. Passwords only after a second, explicit yes: the
 * file would hold them in clear (it is mode 600 and git-ignored).
 */
async function offerToSave(answers: SettingValues, path: string, log: (line: string) => void): Promise<void> {
  const given = SETTINGS.filter((spec) => answers[spec.key] !== undefined);
  const plain = given.filter((spec) => !spec.secret);
  const secret = given.filter((spec) => spec.secret);
  const names = (list: typeof given): string => list.map((spec) => spec.env).join(", ");
  if (plain.length > 0 && !(await askYesNo(`Save ${names(plain)} to ${path} for the next run? [y/N] `))) {
    return;
  }
  let save = plain;
  const where = plain.length > 0 ? "there too" : `to ${path} for the next run`;
  if (secret.length > 0 && (await askYesNo(`Save ${names(secret)} ${where}, in clear text (the file is mode 600)? [y/N] `))) {
    save = given;
  }
  if (save.length === 0) {
    return;
  }
  writeEnvFileValues(path, Object.fromEntries(save.map((spec) => [spec.env, answers[spec.key] as string])));
  const left = given.filter((spec) => !save.includes(spec));
  log(`saved ${names(save)} to ${path}${left.length > 0 ? `; not ${names(left)} (asked again next time)` : ""}`);
}

/** The build folder of `npm run build:firmware`. */
export const DEFAULT_BUILD_DIR = resolve(import.meta.dirname, "..", "..", "firmware", "dist");
/** What a real board cannot run without; the virtual one has its own WiFi and an embedded broker. */
const REQUIRED_FOR_A_BOARD: readonly SettingKey[] = ["ssid", "wifiPassword", "broker"];
/** The virtual device joins any network; a name makes its log read like a board's. */
const VIRTUAL_SSID = "espfleet-virtual";
/** Per REPL step after writing an image: the first boot formats the file system (30-60 s); otherwise the REPL's own default. */
const ATTACH_AFTER_IMAGE_MS = 30_000;

export interface FlashFlags {
  port?: string;
  virtual?: boolean;
  baud: number;
  firmware?: string;
  address: number;
  erase?: boolean;
  build: boolean;
  buildDir: string;
  withSource?: boolean;
  format?: boolean;
  monitor?: boolean;
  heapKb: number;
  /** --virtual-lfs-kb: the virtual board's LFS partition, KB (default 128; 0 = none). */
  virtualLfsKb?: number;
  /** false for --no-lfs. */
  lfs: boolean;
  /** --yes: may change the board's partition table (erasing its files) without asking. */
  yes?: boolean;
  /** --settings-file: KEY=VALUE settings (not --env-file: Node 20 claims that flag). */
  settingsFile?: string;
  verbose?: boolean;
  ssid?: string;
  wifiPassword?: string;
  broker?: string;
  username?: string;
  password?: string;
  ca?: string;
  fleetKeyFile?: string;
  nodeId?: string;
  interval?: string;
  prefix?: string;
  topicData?: string;
}

function flagValues(flags: FlashFlags): SettingValues {
  const out: SettingValues = {};
  for (const key of ["ssid", "wifiPassword", "broker", "username", "password", "ca", "nodeId", "interval", "prefix", "topicData"] as const) {
    const value = flags[key];
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

export async function flashCommand(flags: FlashFlags): Promise<number> {
  const secrets = new SecretMasker();
  // Until the settings are resolved, hide every secret a flag or the environment holds.
  const env = process.env;
  secrets.add(flags.wifiPassword ?? "", flags.password ?? "", env.WIFI_PASSWORD ?? "", env.MQTT_PASSWORD ?? "", ...urlSecrets(flags.broker), ...urlSecrets(env.MQTT_URL));
  try {
    return await runFlash(flags, secrets);
  } catch (error) {
    // Error texts quote inputs (a malformed broker URL, say): no secret leaves through them either.
    if (error instanceof CliError) {
      throw new CliError(secrets.mask(error.message), error.exitCode);
    }
    throw error;
  }
}

async function runFlash(flags: FlashFlags, secrets: SecretMasker): Promise<number> {
  const redact = secrets.mask;
  const formatLine = (line: string): string => `espfleet flash: ${redact(line)}`;
  const log = (line: string): void => {
    process.stderr.write(formatLine(line) + "\n");
  };
  const tty = process.stderr.isTTY === true;
  const virtual = flags.virtual === true;
  if (virtual && flags.port !== undefined) {
    throw new CliError("--virtual and --port exclude each other: --virtual makes its own port", 2);
  }
  if (!virtual && flags.port === undefined) {
    throw new CliError("say where the board is: --port /dev/ttyUSB0, --port auto (the one USB serial adapter), or --virtual (no board)", 2);
  }
  if (!virtual && flags.virtualLfsKb !== undefined) {
    throw new CliError("--virtual-lfs-kb sets the LFS partition of the virtual board: add --virtual, or drop it", 2);
  }
  if (virtual && flags.firmware !== undefined) {
    throw new CliError("--firmware writes a NodeMCU image to a real board; the virtual device has NodeMCU already: drop --firmware or --virtual", 2);
  }

  // 1. The port: a path, or the one USB serial adapter; checked before any question is asked or anything is built (issue 12).
  let portPath: string | undefined = undefined;
  if (!virtual) {
    portPath = resolvePortArgument(flags.port as string);
    if (!existsSync(portPath)) {
      throw noSuchPortError(portPath);
    }
  }

  // 2. Settings: flags > environment > env file; ask at a terminal (and offer to keep the answers), else list what is missing.
  const fileValues = readEnvFile(flags.settingsFile, log);
  const settings = resolveSettings({ flags: flagValues(flags), env: process.env, file: fileValues }, virtual ? [] : REQUIRED_FOR_A_BOARD);
  if (settings.missing.length > 0) {
    if (process.stdin.isTTY !== true) {
      throw new CliError(describeMissing(settings.missing, flags.settingsFile ?? DEFAULT_ENV_FILE), 2);
    }
    const answers = await askMissing(settings.missing);
    for (const [key, value] of Object.entries(answers) as [SettingKey, string][]) {
      settings.values[key] = value;
      settings.sources[key] = "prompt";
    }
    secrets.add(answers.wifiPassword ?? "", answers.password ?? "", ...urlSecrets(answers.broker));
    await offerToSave(answers, flags.settingsFile ?? DEFAULT_ENV_PATH, log);
  }
  const values = settings.values;
  secrets.add(values.wifiPassword ?? "", values.password ?? "", ...urlSecrets(values.broker));
  if (virtual && values.ssid === undefined) {
    values.ssid = VIRTUAL_SSID;
    settings.sources.ssid = "default";
  }
  // The fleet key: --fleet-key-file, else ESPFLEET_FLEET_KEY from the environment, else from the env file.
  const fleetKey = loadFleetKey(flags.fleetKeyFile, { ...fileValues, ...process.env });
  const fleetConfig: Record<string, unknown> = {};
  if (fleetKey !== undefined) {
    secrets.add(fleetKey);
    fleetConfig.fleet_key = fleetKey;
    // A fresh config.json would reset the node's replay counter to 0 and let it accept any recorded change again;
    // operators' counters are Unix seconds (or above), so start the node at now.
    fleetConfig.config_counter = Math.floor(Date.now() / 1000);
  }
  // Check the settings against the node's schema before anything slow happens (with a stand-in broker for --virtual).
  buildNodeConfig({}, { ...values, broker: values.broker ?? "mqtt://127.0.0.1:1883" }, fleetConfig);

  const secure = values.broker !== undefined && values.broker.startsWith("mqtts:");
  const ca = values.ca !== undefined ? readBrokerCa(values.ca) : undefined;
  if (ca !== undefined && !secure) {
    log(`the broker is not mqtts://, so ${values.ca} is not needed; uploading it anyway (it is pinned for a later switch to TLS)`);
  }
  if (flags.firmware !== undefined && !existsSync(flags.firmware)) {
    throw new CliError(`--firmware ${flags.firmware}: no such file; give the NodeMCU image (.bin), e.g. from nodemcu-build.com`, 2);
  }

  // 3. Build.
  const buildDir = resolve(flags.buildDir);
  if (flags.build) {
    log(`building the firmware into ${buildDir} ...`);
    const built = await buildFirmwareInto(buildDir);
    log(`built in ${(built.ms / 1000).toFixed(1)} s: ${Object.entries(built.files).map(([name, bytes]) => `${name} ${bytes} B`).join(", ")}`);
  } else if (!existsSync(resolve(buildDir, "init.lua"))) {
    throw new CliError(`--no-build: ${buildDir} holds no build; run without --no-build (or npm run build:firmware)`, 2);
  }
  const modules = readModules(buildDir);
  const names = filesToUpload(buildDir, flags.withSource === true);
  const lfs: LfsRequest = {
    use: flags.lfs,
    image: flags.lfs ? readBuildLfsImage(buildDir) : undefined,
    modules: LFS_MODULES,
    emptyImage: emptyLfsImage,
    // At a terminal the question is asked; elsewhere only --yes may erase the board's files.
    repartition: flags.yes === true ? "yes" : process.stdin.isTTY === true ? "ask" : "no",
    confirm: askYesNo,
    firmwareModules: [...modules.required, ...(modules.optional.length > 0 ? [`plus ${modules.optional.join(", ")} where wanted`] : [])],
  };
  const baseConfig = JSON.parse(readFileSync(resolve(buildDir, "config.json"), "utf8")) as Record<string, unknown>;

  let board: VirtualBoard | undefined = undefined;
  // Ctrl-C before the console is followed: remove the virtual board (pty, broker, temp folder) on the way out.
  const interrupted = (): void => {
    log("Ctrl-C: stopping");
    void (board?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  try {
    // 4. Where to: a virtual board (with an embedded broker unless one was named), or the real port.
    if (virtual) {
      const lfsKb = flags.virtualLfsKb ?? VIRTUAL_LFS_KB;
      board = await startVirtualBoard({ heapKb: flags.heapKb, lfsKb, baud: flags.baud, embeddedBroker: values.broker === undefined, log });
      if (board.embeddedBrokerUrl !== undefined) {
        values.broker = board.embeddedBrokerUrl;
        settings.sources.broker = "default";
        log(`embedded MQTT broker on ${board.embeddedBrokerUrl} (watch it: npx espfleet watch --broker ${board.embeddedBrokerUrl})`);
      }
      portPath = board.portPath;
      log(`virtual ESP8266 on ${portPath} (heap ${flags.heapKb} KB, LFS partition ${lfsKb > 0 ? `${lfsKb} KB` : "none"}, console paced at ${flags.baud} baud)`);
    }
    for (const line of describeSettings(settings)) {
      log(line);
    }
    const config = buildNodeConfig(baseConfig, values, fleetConfig);
    if (fleetKey !== undefined) {
      log("fleet key: *** (the node applies only config changes signed with it)");
    }
    const port = portPath as string;

    // 5. A NodeMCU image, when given (the ROM bootloader; the board restarts into it).
    if (flags.firmware !== undefined) {
      await writeImage(flags, port, tty, log);
    }

    // 6. Upload, verified, then restart.
    const files = [
      ...names.map((name) => ({ name, data: readFileSync(resolve(buildDir, name)) })),
      { name: "config.json", data: Buffer.from(JSON.stringify(config)) },
      // init.lua pins it on the next boot (then renames it ca.pin).
      ...(ca !== undefined ? [{ name: CA_FILE, data: ca }] : []),
    ];
    // init.lua last: config.json goes before it.
    files.sort((a, b) => (a.name === "init.lua" ? 1 : 0) - (b.name === "init.lua" ? 1 : 0));
    const view = new UploadProgressView(tty, log, formatLine);
    log(`connecting to the board's Lua prompt on ${port} at ${flags.baud} baud`);
    // Loaded when needed: the serial stack is not part of the checks above, which must work without it.
    const { uploadToBoard } = await import("./upload-step");
    let uploaded;
    try {
      uploaded = await uploadToBoard({
        port,
        baud: flags.baud,
        files,
        // TLS needs the tls module and a pinned CA: this upload's ca.pem or an earlier one.
        // A fleet key needs crypto (HMAC) to check signatures; both are optional modules otherwise.
        requiredModules: [...modules.required, ...modules.optional.filter((m) => (m === "tls" && secure) || (m === "crypto" && fleetKey !== undefined))],
        requirePinnedCa: secure && ca === undefined,
        format: flags.format === true,
        ...(flags.firmware !== undefined ? { attachTimeoutMs: ATTACH_AFTER_IMAGE_MS } : {}),
        onProgress: (p) => view.update(p),
        log: (line) => view.note(line),
        ...(flags.verbose === true ? { trace: (line: string) => log(`repl: ${line}`) } : {}),
        lfs,
      });
    } finally {
      view.stop();
    }
    log(`uploaded ${uploaded.bytes} B in ${(uploaded.ms / 1000).toFixed(1)} s, verified by ${uploaded.verified}; the board restarted`);
    if (uploaded.lfs !== undefined) {
      log(uploaded.lfs.summary);
    }

    // 7. Follow the console (until Ctrl-C), or leave the board running.
    process.off("SIGINT", interrupted);
    if (flags.monitor === true) {
      const consolePort = await openConsolePort(port, flags.baud);
      // The signals are ours, not followConsole's: Ctrl-C ends the command with 130, like every other (issue 15).
      const stopFollowing = new AbortController();
      let signalled: NodeJS.Signals | undefined = undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        signalled ??= signal;
        stopFollowing.abort();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        log(`console of ${port} follows; Ctrl-C to stop${virtual ? " (and the virtual device with it)" : ""}`);
        const result = await followConsole(consolePort, {
          out: process.stdout,
          colour: colourEnabled(process.stdout),
          redact,
          handleSignals: false,
          signal: stopFollowing.signal,
          // As in espfleet monitor: lines typed at a terminal go to the board.
          ...(process.stdin.isTTY === true ? { input: process.stdin } : {}),
        });
        log(`${signalled === "SIGINT" ? "Ctrl-C" : result.reason}: ${result.lines} console lines, ${result.errorLines} marked as errors`);
        if (signalled !== undefined) {
          return signalled === "SIGTERM" ? 143 : 130;
        }
        if (result.reason === "port closed") {
          log(`${port} went away (board unplugged?); the upload had finished; follow the console again with: espfleet monitor --port ${port}`);
          return 1;
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await closePort(consolePort);
      }
    } else if (virtual) {
      log("the virtual device stops with this command; add --monitor to keep it running (until Ctrl-C)");
    }
    return 0;
  } finally {
    process.off("SIGINT", interrupted);
    await board?.stop();
  }
}

async function writeImage(flags: FlashFlags, port: string, tty: boolean, log: (line: string) => void): Promise<void> {
  const path = flags.firmware as string;
  let image: Buffer;
  try {
    image = readFileSync(path);
  } catch (error) {
    throw new CliError(`--firmware ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the NodeMCU .bin file`, 2);
  }
  const view = new ImageProgressView(tty, log);
  log(`writing ${path} (${image.length} B) at 0x${flags.address.toString(16)} through the ROM bootloader${flags.erase === true ? ", erasing the flash first" : ""}`);
  // Loaded when needed: esptool-js is large and only --firmware uses it.
  const { flashImage } = await import("../flasher/flash-image");
  try {
    const result = await flashImage({
      port,
      image,
      address: flags.address,
      erase: flags.erase === true,
      onProgress: (written, total) => view.update(written, total),
      log: (line) => log(`esptool: ${line}`),
    });
    view.stop();
    log(`flashed ${result.bytes} B to ${result.chip} (MAC ${result.mac}) in ${(result.ms / 1000).toFixed(1)} s; first boot formats the file system (up to a minute)`);
  } finally {
    view.stop();
  }
}
