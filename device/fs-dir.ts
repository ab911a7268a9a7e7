/**
 * The device's flash file system (SPIFFS) as a host folder, so tests and
 * tools can see what landed. SPIFFS names are flat strings of up to 31 bytes
 * where "/" is an ordinary character; here "a/b.lua" becomes a sub-folder.
 * Anything that could leave the folder (a "..", an absolute path, a
 * backslash, a control character) is percent-encoded in the host name.
 */
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { DeviceError } from "./errors";

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f%\\:*?"<>|\x7f]/g;

/** SPIFFS name -> path relative to the folder. */
export function hostName(name: string): string {
  const segments = name.split("/").map((seg) => {
    const escaped = seg.replace(UNSAFE, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"));
    // "", "." and ".." cannot be folder entries: encode them.
    return escaped === "" || escaped === "." || escaped === ".." ? escaped.replace(/\./g, "%2e") + "%" : escaped;
  });
  return segments.join(sep);
}

/** Path relative to the folder -> SPIFFS name (inverse of hostName). */
export function spiffsName(rel: string): string {
  return rel
    .split(sep)
    .map((seg) => (seg.endsWith("%") && /^(%2e)*%$/.test(seg) ? seg.slice(0, -1) : seg))
    .join("/")
    .replace(/%([0-9a-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * A folder in the device's folder that is not SPIFFS: the flash regions
 * outside it (device/flash-regions.ts). hostName never makes this name ("%"
 * is always followed by two hex digits or ends the name), so no file maps to it.
 */
export const FLASH_REGIONS_FOLDER = "%flash";

export class FsDir {
  constructor(readonly dir: string) {
    try {
      // The device's flash holds WiFi and MQTT passwords and the fleet key: the owner's only.
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new DeviceError(`cannot use ${dir} as the device's file system: ${(error as Error).message}`);
    }
    if (!statSync(dir).isDirectory()) {
      throw new DeviceError(`--fs ${dir} is not a folder; give a folder (it is created when missing)`);
    }
  }

  private path(name: string): string {
    return join(this.dir, hostName(name));
  }

  /** Every file, by SPIFFS name: what the flash holds at boot. */
  loadAll(): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    const walk = (folder: string): void => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        if (folder === this.dir && entry.name === FLASH_REGIONS_FOLDER) {
          continue;
        }
        const full = join(folder, entry.name);
        if (entry.isDirectory()) {
          walk(full);
        } else if (entry.isFile()) {
          files.set(spiffsName(relative(this.dir, full)), readFileSync(full));
        }
      }
    };
    walk(this.dir);
    return files;
  }

  /** One file's contents, or undefined when there is no such file. */
  read(name: string): Buffer | undefined {
    const path = this.path(name);
    return existsSync(path) && statSync(path).isFile() ? readFileSync(path) : undefined;
  }

  /** Write `data` at `offset` and cut the file to `total` bytes (creates it). */
  put(name: string, offset: number, total: number, data: Buffer): void {
    const path = this.path(name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fd = openSync(path, existsSync(path) ? "r+" : "w+", 0o600);
    try {
      if (data.length > 0) {
        writeSync(fd, data, 0, data.length, offset);
      }
      ftruncateSync(fd, total);
    } finally {
      closeSync(fd);
    }
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  rename(from: string, to: string): void {
    const target = this.path(to);
    mkdirSync(dirname(target), { recursive: true });
    if (existsSync(this.path(from))) {
      renameSync(this.path(from), target);
    }
  }

  /** Erase every file (SPIFFS only: the flash regions stay). */
  format(): void {
    for (const entry of readdirSync(this.dir)) {
      if (entry === FLASH_REGIONS_FOLDER) {
        continue;
      }
      rmSync(join(this.dir, entry), { recursive: true, force: true });
    }
  }
}
