import { CliError } from "../../common/errors";

/** What went wrong, for callers (and tests) that act on the kind rather than the words. */
export type FlasherProblem =
  | "bad-input"
  | "no-such-port"
  | "permission-denied"
  | "port-busy"
  | "not-a-serial-port"
  | "no-answer"
  | "wrong-chip"
  | "image-too-large"
  | "verify-failed"
  | "connection-lost";

/** A flashing failure; the message says what happened and what to do. Exit code 2 for bad input, else 1. */
export class FlasherError extends CliError {
  constructor(
    readonly problem: FlasherProblem,
    message: string,
  ) {
    super(message, problem === "bad-input" ? 2 : 1);
    this.name = "FlasherError";
  }
}
