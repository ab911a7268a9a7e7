/**
 * `npm run bench:upload`: the same firmware files uploaded to a fresh
 * virtual ESP8266 (on a pseudo-terminal, output paced at the baud rate)
 * once with espfleet's uploader and once with nodemcu-tool, at the same
 * baud; prints bytes, seconds and bytes/s of each and the ratio.
 *
 * "wire s" runs from the first byte the device receives to the last byte it
 * sends: the transfer itself, without process start-up. "wall s" is the
 * whole run (for nodemcu-tool: its process, including Node's start-up).
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Pty } from "../device/pty";
import { VirtualDevice } from "../device/virtual-device";
import { openSerialPort } from "../host-bridge/serial/open-port";
import { DEFAULT_DIST_DIR } from "../host-bridge/uploader/dist-files";
import { NodeMcuRepl } from "../host-bridge/uploader/repl";
import { Uploader } from "../host-bridge/uploader/uploader";

const FILES = ["app.lua", "cfg.lua", "init.lua", "config.json"];
const NODEMCU_TOOL = join(DEFAULT_DIST_DIR, "..", "..", "node_modules", ".bin", "nodemcu-tool");

interface Run {
  tool: string;
  bytes: number;
  wireMs: number;
  wallMs: number;
}

/** A fresh device with an empty flash on a pty; records when bytes first came in and last went out. */
async function startDevice(root: string, name: string, baud: number, latencyMs: number) {
  const fsDir = join(root, name);
  const link = join(root, `${name}.tty`);
  const device = new VirtualDevice({ fsDir, id: name, heapKb: 96 });
  const pty = await Pty.open(link, { baud });
  const wire = { firstIn: 0, lastOut: 0 };
  device.on("tx", (b: Buffer) => {
    // --latency-ms: a USB-serial adapter hands bytes on in batches (FTDI: up to 16 ms); same delay for all, so order holds.
    setTimeout(() => {
      wire.lastOut = Date.now();
      pty.write(b);
    }, latencyMs);
  });
  pty.on("data", (b: Buffer) => {
    wire.firstIn ||= Date.now();
    device.write(b);
  });
  device.start();
  // Let the boot banner and prompt go out before a tool opens the port.
  await new Promise((r) => setTimeout(r, 1500));
  wire.firstIn = 0;
  return {
    fsDir,
    link,
    wire,
    async stop() {
      device.stop();
      await pty.close();
    },
  };
}

function checkLanded(fsDir: string, dist: string, tool: string): void {
  for (const f of FILES) {
    const there = join(fsDir, f);
    if (!existsSync(there) || !readFileSync(there).equals(readFileSync(join(dist, f)))) {
      throw new Error(`${tool}: ${f} on the device differs from ${join(dist, f)}`);
    }
  }
}

async function runEspfleet(root: string, dist: string, baud: number, latencyMs: number): Promise<Run> {
  const dev = await startDevice(root, "espfleet", baud, latencyMs);
  try {
    const started = Date.now();
    const port = await openSerialPort(dev.link, baud);
    const repl = await NodeMcuRepl.attach(port);
    const result = await new Uploader(repl).upload(FILES.map((name) => ({ name, data: readFileSync(join(dist, name)) })));
    await repl.close();
    const wallMs = Date.now() - started;
    checkLanded(dev.fsDir, dist, "espfleet");
    return { tool: `espfleet (verified: ${result.verified})`, bytes: result.bytes, wireMs: dev.wire.lastOut - dev.wire.firstIn, wallMs };
  } finally {
    await dev.stop();
  }
}

async function runNodemcuTool(root: string, dist: string, baud: number, latencyMs: number): Promise<Run> {
  const dev = await startDevice(root, "nodemcutool", baud, latencyMs);
  // nodemcu-tool names the remote file after the path it is given: run it in a folder holding the files.
  const work = join(root, "nodemcu-tool-files");
  mkdirSync(work, { recursive: true });
  for (const f of FILES) {
    copyFileSync(join(dist, f), join(work, f));
  }
  try {
    const started = Date.now();
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(NODEMCU_TOOL, ["--port", dev.link, "--baud", String(baud), "upload", ...FILES], { cwd: work });
      let text = "";
      child.stdout.on("data", (d: Buffer) => (text += d.toString()));
      child.stderr.on("data", (d: Buffer) => (text += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`nodemcu-tool exited with ${code}:\n${text}`))));
    });
    const wallMs = Date.now() - started;
    if (!/complete/i.test(output)) {
      throw new Error(`nodemcu-tool did not report success:\n${output}`);
    }
    checkLanded(dev.fsDir, dist, "nodemcu-tool");
    const bytes = FILES.reduce((n, f) => n + readFileSync(join(dist, f)).length, 0);
    return { tool: "nodemcu-tool 3.2.1", bytes, wireMs: dev.wire.lastOut - dev.wire.firstIn, wallMs };
  } finally {
    await dev.stop();
  }
}

async function main(): Promise<void> {
  const opts = new Command("bench-upload")
    .description("upload the firmware to a virtual ESP8266 with espfleet's uploader and with nodemcu-tool; compare")
    .option("--dist <dir>", "firmware build folder (npm run build:firmware)", DEFAULT_DIST_DIR)
    .option("--baud <rate>", "baud rate of the virtual device's console and both tools, in bit/s", "115200")
    .option("--latency-ms <ms>", "delay the device's output by this many ms, like a USB-serial adapter's latency timer", "0")
    .parse()
    .opts<{ dist: string; baud: string; latencyMs: string }>();
  const baud = Number(opts.baud);
  const latencyMs = Number(opts.latencyMs);
  if (!Number.isInteger(baud) || baud <= 0 || !Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new Error(`--baud ${opts.baud} --latency-ms ${opts.latencyMs}: give a baud rate > 0 and a latency >= 0 ms`);
  }
  for (const f of FILES) {
    if (!existsSync(join(opts.dist, f))) {
      throw new Error(`${join(opts.dist, f)} is missing: run npm run build:firmware first`);
    }
  }
  const root = mkdtempSync(join(tmpdir(), "espfleet-bench-upload-"));
  try {
    const runs = [await runEspfleet(root, opts.dist, baud, latencyMs), await runNodemcuTool(root, opts.dist, baud, latencyMs)];
    const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
    console.log(`\nfiles: ${FILES.join(", ")}; ${baud} baud; virtual ESP8266 on a pty; output latency ${latencyMs} ms\n`);
    console.log(row(["tool", "bytes", "wire s", "wire bytes/s", "wall s"]));
    console.log(row(["---", "---:", "---:", "---:", "---:"]));
    for (const r of runs) {
      console.log(row([r.tool, String(r.bytes), (r.wireMs / 1000).toFixed(2), String(Math.round(r.bytes / (r.wireMs / 1000))), (r.wallMs / 1000).toFixed(2)]));
    }
    const [ours, theirs] = runs as [Run, Run];
    console.log(`\nespfleet is ${(theirs.wireMs / ours.wireMs).toFixed(2)}x as fast as nodemcu-tool on the wire (${(theirs.wallMs / ours.wallMs).toFixed(2)}x wall)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench-upload: ${(err as Error).message}`);
  process.exitCode = 1;
});
