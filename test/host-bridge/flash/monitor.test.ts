/**
 * The console monitor against a real virtual ESP8266 on a pty, through the
 * real serial stack (serialport on the pty's slave side).
 */
import { PassThrough } from "node:stream";
import type { SerialPort } from "serialport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVirtualBoard, type VirtualBoard } from "../../../host-bridge/flash/virtual-board";
import { resetBoard, writeAll } from "../../../host-bridge/monitor/board-reset";
import { followConsole, type FollowResult } from "../../../host-bridge/monitor/console-monitor";
import { closePort, openConsolePort } from "../../../host-bridge/monitor/open-console-port";
import { waitFor } from "../../device/support/brokers";

let board: VirtualBoard;
let port: SerialPort;
let shown = "";
const notes: string[] = [];
const stop = new AbortController();
let following: Promise<FollowResult>;

beforeAll(async () => {
  board = await startVirtualBoard({ heapKb: 96, embeddedBroker: false, log: (line) => notes.push(line) });
  port = await openConsolePort(board.portPath, 115200);
  const out = new PassThrough();
  out.on("data", (chunk: Buffer) => {
    shown += chunk.toString("latin1");
  });
  following = followConsole(port, { out, colour: false, handleSignals: false, signal: stop.signal });
  // An empty flash: the board boots to the prompt.
  await waitFor("the first prompt", () => shown.includes("> "), 20_000);
});

afterAll(async () => {
  stop.abort();
  await closePort(port);
  await board.stop();
});

describe("espfleet monitor's console", () => {
  it("shows what a command prints, line by line", async () => {
    const from = shown.length;
    await writeAll(port, "print('sum=' .. (20 + 22))\r\n");
    await waitFor("the command's output", () => shown.slice(from).includes("sum=42\n"), 20_000);
    expect(shown.slice(from)).not.toContain("!! sum=42");
  });

  it("marks a Lua error with a plain !! when not on a terminal", async () => {
    const from = shown.length;
    await writeAll(port, "error('boom-' .. 7)\r\n");
    const line = await waitFor("the error line", () => shown.slice(from).split("\n").find((l) => l.includes("boom-7") && !l.includes("error(")), 20_000);
    expect(line.startsWith("!! ")).toBe(true);
  });

  it("resets a pty by node.restart(), says so, and the board boots again", async () => {
    const from = shown.length;
    const boots = board.device.stats.boots;
    const method = await resetBoard(port, (line) => notes.push(line));
    expect(method).toBe("node.restart");
    expect(notes.join("\n")).toMatch(/cannot pulse DTR\/RTS .*node\.restart\(\)/);
    await waitFor("the boot banner after the reset", () => shown.slice(from).includes("NodeMCU 3.0.0.0"), 20_000);
    expect(board.device.stats.boots).toBeGreaterThan(boots);
  });

  it("stops when asked and counts what it showed", async () => {
    stop.abort();
    const result = await following;
    expect(result.reason).toBe("interrupted");
    expect(result.errorLines).toBeGreaterThanOrEqual(1);
    expect(result.lines).toBeGreaterThan(result.errorLines);
  });
});
