/**
 * The broker tests' store folders: one temporary folder per test file, made
 * before its tests and removed after them (call at the file's top level),
 * and a store spec for a named folder inside it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { BrokerStoreSpec } from "../../../broker/broker-store";

export type FolderStoreSpec = BrokerStoreSpec & { kind: "folder" };

/** `folder(name)`: a broker store in `<temp>/<name>`, failing (not falling back to memory) when another holds it. */
export function storeFolders(prefix: string): (name: string) => FolderStoreSpec {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `espfleet-${prefix}-`));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return (name) => ({ kind: "folder", folder: join(dir, name), ifLocked: "fail" });
}
