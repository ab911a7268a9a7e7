/** Small helpers shared by the flasher tests. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `espfleet-${prefix}-`));
}

export { waitFor } from "../../device/support/brokers";
