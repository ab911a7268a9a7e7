/**
 * Keeps a board on a serial port: when it goes away (USB unplugged, board
 * reset by hand), reads fail with the reason while the keeper reopens the
 * port every `retryMs` and redoes the Firmata handshake; once the board
 * answers again its sensors are read again. The node itself never notices
 * more than failed reads and a `sensor_recovered` event, as with a flaky
 * sensor on an ESP8266.
 *
 * "Gone" is the port closing, a port error, or silence: StandardFirmata
 * streams every reported analog input ~50 times a second, so a board that
 * sent nothing for `silenceLimitMs` is hung or unplugged without the port
 * noticing (a pty or some USB adapters never report the hang-up). Reopening
 * the port also resets an Uno (DTR), which revives a hung sketch.
 */
import type { SensorRead } from "../../firmware/core/platform";
import type { SensorSource } from "../../simulator/node-platform";
import type { FirmataBoard } from "./firmata-board";
import type { FirmataSensors } from "./firmata-sensors";

/** A connected board and its sensors. */
export interface BoardSession {
  board: FirmataBoard;
  sensors: FirmataSensors;
}

export interface BoardKeeperOptions {
  /** Open the port, handshake, set up the sensors; throws with advice when it cannot. */
  open: () => Promise<BoardSession>;
  /** Pause between reconnect attempts, ms. */
  retryMs: number;
  /** Lines for the person running the bridge (lost, still trying, back). */
  notify: (text: string) => void;
  /** A board silent this long is taken as gone, ms. */
  silenceLimitMs?: number;
}

/** Default `silenceLimitMs`: longer than FirmataSensors' staleness (3 s), so reads fail first. */
export const DEFAULT_SILENCE_LIMIT_MS = 5000;
/** How often the silence is checked, ms. */
const WATCHDOG_MS = 500;
/** How long a lost board's port gets to close before the first reopen attempt, ms. */
const CLOSE_WAIT_MS = 2000;

export class BoardKeeper implements SensorSource {
  private session: BoardSession;
  private retry: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private lastFailure = "";
  private readonly watchdog: NodeJS.Timeout;
  /** Declares the current session lost (set by watch()). */
  private loseCurrent: (why: string) => void = () => undefined;
  /** Reconnects so far (for the status line and tests). */
  reconnects = 0;

  constructor(
    first: BoardSession,
    private readonly options: BoardKeeperOptions,
  ) {
    this.session = first;
    this.watch(first);
    const limit = options.silenceLimitMs ?? DEFAULT_SILENCE_LIMIT_MS;
    this.watchdog = setInterval(() => {
      const silent = this.session.sensors.silentMs();
      if (silent !== undefined && silent > limit) {
        this.loseCurrent(`nothing from the board for ${(silent / 1000).toFixed(1)} s`);
      }
    }, WATCHDOG_MS);
  }

  /** The current session's sensors; after a loss, the lost ones, which fail every read with the reason. */
  read(name: string): SensorRead {
    return this.session.sensors.read(name);
  }

  current(): BoardSession {
    return this.session;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.watchdog);
    this.session.sensors.close();
    await this.session.board.close();
  }

  private watch(session: BoardSession): void {
    let handled = false;
    const lost = (why: string): void => {
      if (handled || this.closed) {
        return;
      }
      handled = true;
      session.sensors.boardLost(`board disconnected (${why}); reconnecting`);
      session.sensors.close();
      this.options.notify(`the board on ${session.board.where} is gone (${why}); its sensors read as failed; reopening the port every ${this.options.retryMs / 1000} s`);
      // A port on a dead device may never finish closing; retry regardless after a moment.
      const closed = session.board.close().catch(() => undefined);
      void Promise.race([closed, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]).then(() => this.scheduleRetry());
    };
    this.loseCurrent = lost;
    const board = session.board.board;
    board.once("close", () => lost("port closed"));
    board.once("disconnect", () => lost("unplugged"));
    // After "ready" johnny-five passes on the port's errors (a read or write that failed).
    board.on("error", (event: { message?: string } | undefined) => lost(`port error: ${event?.message ?? "unknown"}`));
  }

  private scheduleRetry(): void {
    if (this.closed) {
      return;
    }
    this.retry = setTimeout(() => void this.reconnect(), this.options.retryMs);
  }

  private async reconnect(): Promise<void> {
    let next: BoardSession;
    try {
      next = await this.options.open();
    } catch (error) {
      const message = (error as Error).message;
      // Say each different failure once: a board left unplugged must not fill the terminal.
      if (message !== this.lastFailure) {
        this.lastFailure = message;
        this.options.notify(`still no board: ${message}`);
      }
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      next.sensors.close();
      await next.board.close();
      return;
    }
    this.lastFailure = "";
    this.reconnects++;
    this.session = next;
    this.watch(next);
    this.options.notify(`the board is back: ${next.board.description}`);
  }
}
