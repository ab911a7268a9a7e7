/**
 * The messages between the collector's thread and a store running in a
 * worker thread (store-worker.ts, pglite-worker.ts). Every Store method is
 * async and takes and returns structured-cloneable values, so a call is its
 * name and arguments, a reply its value. Errors do not survive
 * structured cloning with their `code` (PostgreSQL's SQLSTATE, a Node errno),
 * which the collector's messages and open-store.ts's advice read: they cross
 * as plain fields and are rebuilt on the other side.
 */
import type { Store } from "./store";

/** The Store's methods (everything but `description`, which comes with "opened"). */
export type StoreMethod = Exclude<keyof Store, "description">;

export interface StoreCall {
  type: "call";
  id: number;
  method: StoreMethod;
  args: unknown[];
}

export interface WireError {
  name: string;
  message: string;
  code?: string | number;
  stack?: string;
}

export type FromStoreWorker =
  /** A line for people while the store opens (the first open of a folder takes seconds). */
  | { type: "progress"; line: string }
  | { type: "opened"; description: string }
  | { type: "open-failed"; error: WireError }
  | { type: "reply"; id: number; value: unknown }
  | { type: "failed"; id: number; error: WireError };

export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error) };
  }
  const code = (error as Error & { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
  };
}

export function fromWire(wire: WireError): Error {
  const error = new Error(wire.message) as Error & { code?: string | number };
  error.name = wire.name;
  if (wire.code !== undefined) {
    error.code = wire.code;
  }
  if (wire.stack !== undefined) {
    error.stack = wire.stack;
  }
  return error;
}
