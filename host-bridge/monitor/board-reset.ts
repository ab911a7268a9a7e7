/**
 * Reset the board the way esptool does after flashing ("hard reset"): pull
 * EN low through RTS for 100 ms with DTR released so GPIO0 stays high and
 * the chip boots the firmware, not the ROM loader. A pseudo-terminal (the
 * virtual device, some USB bridges without modem lines) has no DTR/RTS:
 * then ask NodeMCU itself with `node.restart()` and say so.
 */
import type { SerialPort } from "serialport";

/** How long EN is held low; esptool uses 100 ms. */
const RESET_PULSE_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function setLines(port: SerialPort, lines: { dtr: boolean; rts: boolean }): Promise<void> {
  return new Promise((resolve, reject) => port.set(lines, (error) => (error ? reject(error) : resolve())));
}

/** Pulse RTS (EN) with DTR (GPIO0) released; rejects where the port has no modem lines. */
export async function pulseReset(port: SerialPort): Promise<void> {
  await setLines(port, { dtr: false, rts: true });
  await sleep(RESET_PULSE_MS);
  await setLines(port, { dtr: false, rts: false });
}

export type ResetMethod = "dtr-rts" | "node.restart";

/**
 * Reset by DTR/RTS, or, where the port cannot (a pty), by typing
 * `node.restart()` at the Lua prompt. `log` says which, and why.
 */
export async function resetBoard(port: SerialPort, log: (line: string) => void): Promise<ResetMethod> {
  try {
    await pulseReset(port);
    log("reset the board (RTS pulse on EN, DTR high)");
    return "dtr-rts";
  } catch (error) {
    log(`this port cannot pulse DTR/RTS (${(error as Error).message}); restarting with node.restart() at the Lua prompt instead`);
    // A line end first: whatever half-typed line is in the REPL's buffer is ended and discarded as its own chunk.
    await writeAll(port, "\r\nnode.restart()\r\n");
    return "node.restart";
  }
}

/** Write and wait until the bytes have left for the port. */
export function writeAll(port: SerialPort, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    port.write(text, (error) => {
      if (error) {
        reject(error);
        return;
      }
      port.drain((drainError) => (drainError ? reject(drainError) : resolve()));
    });
  });
}

/**
 * Resolves once the board has booted: its banner ("NodeMCU 3.0...") and
 * then the Lua prompt ("> " at the end of what it sent), or after
 * `timeoutMs` (false). Input sent before that prompt is lost in the reboot.
 */
export function waitForBootPrompt(port: SerialPort, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = "";
    const onData = (bytes: Buffer): void => {
      seen = (seen + bytes.toString("latin1")).slice(-8192);
      if (/NodeMCU[^\n]*\n[\s\S]*(^|\n)> $/.test(seen)) {
        finish(true);
      }
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (found: boolean): void => {
      clearTimeout(timer);
      port.off("data", onData);
      resolve(found);
    };
    port.on("data", onData);
  });
}
