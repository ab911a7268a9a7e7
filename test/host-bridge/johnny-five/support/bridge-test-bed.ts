/**
 * What every `espfleet bridge` child-process test sets up: a temp folder, an
 * embedded broker, a pty pair with a fake StandardFirmata Uno, an observer,
 * the bridge itself; all torn down after each test, newest first.
 * Call useBridgeTestBed() at the top of a test file: it registers the hooks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../../../broker/embedded";
import { type BridgeRun, startBridge } from "./bridge-process";
import { FakeUno, PtyPair } from "./fake-uno";
import { Observer } from "./observer";

export interface BridgeTestBed {
  /** This test's temp folder. */
  readonly dir: string;
  startBroker(): Promise<EmbeddedBroker>;
  /** A pty pair and a fake Uno on its board end. */
  plugBoard(): Promise<{ pty: PtyPair; uno: FakeUno }>;
  /** A pty pair with nothing on the board end (a board that never answers). */
  openPty(): Promise<PtyPair>;
  observe(url: string): Promise<Observer>;
  /** The bridge as a child process; killed after the test if still running. */
  bridge(args: string[]): BridgeRun;
}

export function useBridgeTestBed(name: string): BridgeTestBed {
  let dir = "";
  let broker: EmbeddedBroker | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), `espfleet-bridge-${name}-`));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
    await broker?.close();
    broker = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const openPty = async (): Promise<PtyPair> => {
    const pty = await PtyPair.open(dir);
    cleanups.push(() => pty.close());
    return pty;
  };

  return {
    get dir() {
      return dir;
    },
    async startBroker() {
      broker = await startEmbeddedBroker({ port: 0 });
      return broker;
    },
    openPty,
    async plugBoard() {
      const pty = await openPty();
      const uno = await FakeUno.attach(pty.boardPath);
      cleanups.push(() => uno.close());
      return { pty, uno };
    },
    async observe(url) {
      const observer = await Observer.connect(url);
      cleanups.push(() => observer.close());
      return observer;
    },
    bridge(args) {
      const run = startBridge(args);
      cleanups.push(() => {
        run.child.kill("SIGKILL");
      });
      return run;
    },
  };
}
