import { createHmac } from "node:crypto";
import type { HostCodec } from "./scenario-platform";

/** The Node side of the HostCodec: JSON.parse that answers undefined instead of throwing; node:crypto's HMAC. */
export const nodeCodec: HostCodec = {
  encode: (value) => JSON.stringify(value),
  decode: (text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  },
  hmacSha256Hex: (key, message) => createHmac("sha256", key).update(message).digest("hex"),
};
