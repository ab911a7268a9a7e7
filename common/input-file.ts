/**
 * Files named on the command line (keys, credentials, certificates) are read
 * whole and at once, so they must be regular files: reading a FIFO would
 * block until someone writes to it (issue 15: `--fleet-key-file` on a FIFO
 * hung), and a device or a folder is a mistake. Checked before opening.
 */
import { statSync } from "node:fs";
import { CliError } from "./errors";

/** What kind of thing is at `path`, for the message. */
function kindOf(stat: import("node:fs").Stats): string {
  if (stat.isDirectory()) {
    return "a folder";
  }
  if (stat.isFIFO()) {
    return "a named pipe (FIFO)";
  }
  if (stat.isSocket()) {
    return "a socket";
  }
  if (stat.isCharacterDevice() || stat.isBlockDevice()) {
    return "a device";
  }
  return "not a regular file";
}

/**
 * Throws a usage error (exit 2) when `path` exists and is not a regular file
 * (symbolic links are followed). A missing file is left to the reader, whose
 * message says how to make one.
 */
export function checkRegularFile(flag: string, path: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return;
  }
  if (!stat.isFile()) {
    throw new CliError(`${flag} ${path} is ${kindOf(stat)}; give a regular file (it is read whole, at once)`, 2);
  }
}
