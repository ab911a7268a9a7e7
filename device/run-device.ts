/**
 * `espfleet device --port-link PATH --fs DIR`: one virtual ESP8266 on a
 * pseudo-terminal, until Ctrl-C (the pty disappears with the process).
 * `kill -HUP <pid>` presses the reset button.
 */
import { DeviceError } from "./errors";
import { parseHeapKb, parseLfsKb, parseModules } from "./options";
import { Pty } from "./pty";
import { VirtualDevice } from "./virtual-device";

export interface DeviceCliOptions {
  portLink: string;
  fs: string;
  broker?: string;
  heapKb: string;
  lfsKb: string;
  modules: string;
  lua: string;
  chipId?: string;
  wifiDelayMs: string;
  baud: string;
  console?: boolean;
}

function nonNegative(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new DeviceError(`${flag} ${text}: give a whole number >= 0`);
  }
  return n;
}

export function log(line: string): void {
  process.stderr.write(`espfleet device: ${line}\n`);
}

export async function runDevice(opts: DeviceCliOptions): Promise<void> {
  if (opts.lua !== "5.1" && opts.lua !== "5.3") {
    throw new DeviceError(`--lua ${opts.lua}: NodeMCU builds Lua 5.1 (default) or 5.3`);
  }
  const device = new VirtualDevice({
    fsDir: opts.fs,
    heapKb: parseHeapKb(opts.heapKb),
    lfsBytes: parseLfsKb(opts.lfsKb) * 1024,
    modules: parseModules(opts.modules),
    luaVersion: opts.lua,
    ...(opts.chipId !== undefined ? { chipId: nonNegative("--chip-id", opts.chipId) } : {}),
    ...(opts.broker !== undefined ? { broker: opts.broker } : {}),
    wifiJoinDelayMs: nonNegative("--wifi-delay-ms", opts.wifiDelayMs),
  });
  const pty = await Pty.open(opts.portLink, { baud: nonNegative("--baud", opts.baud) });
  device.on("tx", (bytes) => {
    pty.write(bytes);
    if (opts.console === true) {
      process.stdout.write(bytes);
    }
  });
  pty.on("data", (bytes) => device.write(bytes));
  device.on("boot", (n, reason) => log(`boot ${n} (${reason})`));
  device.on("panic", (used, budget) => log(`PANIC: Lua heap ${used} B over the ${budget} B budget (--heap-kb); rebooting`));
  device.on("restart", (reason) => {
    if (reason !== "panic") {
      log(`restart (${reason})`);
    }
  });
  device.on("fault", (message) => log(`internal error, please report: ${message}`));

  await new Promise<void>((resolveRun) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) {
        return;
      }
      stopping = true;
      log(`${why}: stopping; removing ${pty.path}`);
      device.stop();
      void pty.close().then(resolveRun);
    };
    // One exit rule (issue 12): 130 after Ctrl-C, 143 after SIGTERM.
    process.once("SIGINT", () => {
      process.exitCode = 130;
      stop("Ctrl-C");
    });
    process.once("SIGTERM", () => {
      process.exitCode = 143;
      stop("SIGTERM");
    });
    process.on("SIGHUP", () => {
      log("SIGHUP: reset");
      device.reset();
    });
    pty.on("exit", () => {
      if (!stopping) {
        log("socat ended; the pty is gone");
        stop("pty closed");
      }
    });
    log(
      `virtual ESP8266 on ${pty.path} (${pty.device}), fs ${opts.fs}, Lua ${opts.lua}, heap ${opts.heapKb} KB, LFS ${device.flash.partitionTable().lfs_size / 1024} KB, ` +
        `modules ${device.modules.join(",")}${opts.broker !== undefined ? `, MQTT to ${opts.broker}` : ""}; Ctrl-C to stop, kill -HUP ${process.pid} to reset`,
    );
    device.start();
  });
}

