/** An error meant for the person at the terminal: the message says what to do; no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code: 2 for bad usage, 1 for everything else. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}
