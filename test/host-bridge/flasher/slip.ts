/**
 * SLIP framing as the ESP bootloaders use it: every packet starts and ends
 * with 0xC0; inside, 0xC0 is sent as 0xDB 0xDC and 0xDB as 0xDB 0xDD.
 */
const END = 0xc0;
const ESC = 0xdb;
const ESC_END = 0xdc;
const ESC_ESC = 0xdd;

export function slipEncode(packet: Uint8Array): Buffer {
  const out: number[] = [END];
  for (const byte of packet) {
    if (byte === END) {
      out.push(ESC, ESC_END);
    } else if (byte === ESC) {
      out.push(ESC, ESC_ESC);
    } else {
      out.push(byte);
    }
  }
  out.push(END);
  return Buffer.from(out);
}

/** Splits a byte stream into packets; bytes outside a frame (line noise) are dropped. */
export class SlipDecoder {
  private packet: number[] | undefined = undefined;
  private escaping = false;

  /** Feed received bytes; returns the packets they completed. */
  push(bytes: Uint8Array): Buffer[] {
    const done: Buffer[] = [];
    for (const byte of bytes) {
      if (byte === END) {
        if (this.packet !== undefined && this.packet.length > 0) {
          done.push(Buffer.from(this.packet));
        }
        // An END both closes a packet and may open the next (back-to-back frames share nothing, but "C0 C0" is common).
        this.packet = [];
        this.escaping = false;
      } else if (this.packet === undefined) {
        continue;
      } else if (this.escaping) {
        this.escaping = false;
        this.packet.push(byte === ESC_END ? END : byte === ESC_ESC ? ESC : byte);
      } else if (byte === ESC) {
        this.escaping = true;
      } else {
        this.packet.push(byte);
      }
    }
    return done;
  }
}
