/**
 * esptool-js's pieces made fit for a terminal program.
 *
 * Loading: esptool-js 0.7 is plain ESM and Node 20 loads it as is (its stub
 * JSON comes in through `import ... with { type: "json" }`, its base64 via
 * atob-lite's Node build). The browser globals it touches are all either
 * present in Node 20 (TextDecoder, DOMException, crypto.subtle, only for
 * ESP32 images) or on paths we never take (navigator.clipboard in
 * returnTrace), so nothing is shimmed.
 *
 * What does need changing: Transport.trace() prints to console.log
 * unconditionally (readLoop, flashSizeBytes call it even with tracing off),
 * which would scribble over a progress bar and stdout; here it goes to a
 * callback instead.
 */
import { Transport, type IEspLoaderTerminal } from "esptool-js";
import type { WebSerialAdapter } from "./web-serial-adapter";

type TransportDevice = ConstructorParameters<typeof Transport>[0];

export class QuietTransport extends Transport {
  constructor(
    device: WebSerialAdapter,
    private readonly onTrace: (line: string) => void,
  ) {
    // The adapter implements the part of Web Serial's SerialPort that Transport uses (see web-serial-adapter.ts).
    super(device as unknown as TransportDevice, false);
  }

  override trace(message: string): void {
    this.onTrace(message);
  }
}

/** esptool-js's terminal: whole lines to `log` (it writes some lines in pieces). */
export function lineTerminal(log: (line: string) => void): IEspLoaderTerminal {
  let pending = "";
  const emit = (text: string): void => {
    const lines = (pending + text).split(/\r?\n|\r/);
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() !== "") {
        log(line);
      }
    }
  };
  return {
    clean: () => {
      pending = "";
    },
    writeLine: (data: string) => emit(data + "\n"),
    write: (data: string) => emit(data),
  };
}
