/** The --baud parser shared by `espfleet monitor` and `espfleet flash`: bad input says what to type instead. */
import { InvalidArgumentError } from "commander";

export const baudArg = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 300 || n > 4_000_000) {
    throw new InvalidArgumentError(`${text} is not a baud rate; NodeMCU's console runs at 115200`);
  }
  return n;
};

