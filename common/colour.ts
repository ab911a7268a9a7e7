/**
 * When espfleet colours its output: only on a terminal, never when NO_COLOR
 * is set to anything but "" (https://no-color.org; `--no-color` sets it for
 * the command), never on TERM=dumb. FORCE_COLOR (a non-"0" value) colours a
 * pipe too, as Node's own tools do. The same rule for every command.
 */

export function colourEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") {
    return false;
  }
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") {
    return true;
  }
  return stream.isTTY === true && env.TERM !== "dumb";
}

export interface Paint {
  red(text: string): string;
  yellow(text: string): string;
  green(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const code =
  (open: number, close: number) =>
  (text: string): string =>
    `\x1b[${open}m${text}\x1b[${close}m`;
const plain = (text: string): string => text;

/** ANSI colours when `enabled`, the text unchanged otherwise. */
export function paint(enabled: boolean): Paint {
  if (!enabled) {
    return { red: plain, yellow: plain, green: plain, cyan: plain, dim: plain, bold: plain };
  }
  return { red: code(31, 39), yellow: code(33, 39), green: code(32, 39), cyan: code(36, 39), dim: code(2, 22), bold: code(1, 22) };
}
