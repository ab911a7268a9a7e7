import type { JsonCodec } from "./scenario-platform";

/** The Node side of the JsonCodec: JSON.parse that answers undefined instead of throwing. */
export const nodeJson: JsonCodec = {
  encode: (value) => JSON.stringify(value),
  decode: (text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  },
};
