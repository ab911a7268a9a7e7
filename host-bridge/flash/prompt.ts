/**
 * Ask for missing settings at a terminal (secrets are read without echo), and
 * yes/no questions (may the partition table change?).
 * Only used when stdin is a TTY: anywhere else a missing setting is an
 * error that lists the ways to give it.
 */
import { createInterface } from "node:readline";
import { specOf, type SettingKey, type SettingValues } from "./settings";

function askLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Ctrl-C at a question ends the program as anywhere else (exit 130); readline would only close the question.
  rl.once("SIGINT", () => {
    rl.close();
    process.stderr.write("\n");
    process.emit("SIGINT", "SIGINT");
  });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

/** Read a line in raw mode, echoing nothing; Ctrl-C aborts the program as it would anywhere else. */
function askSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve) => {
    let typed = "";
    stdin.setRawMode(true);
    stdin.resume();
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") {
          finish();
          resolve(typed);
          return;
        }
        if (char === "\u0003") {
          finish();
          process.emit("SIGINT", "SIGINT");
          return;
        }
        if (char === "\u007f" || char === "\b") {
          typed = typed.slice(0, -1);
        } else {
          typed += char;
        }
      }
    };
    const finish = (): void => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    stdin.on("data", onData);
  });
}

export async function askMissing(missing: readonly SettingKey[]): Promise<SettingValues> {
  const answers: SettingValues = {};
  for (const key of missing) {
    const spec = specOf(key);
    const question = `${spec.label} (${spec.env})${spec.secret ? ", not shown as you type" : ""}: `;
    answers[key] = spec.secret ? await askSecret(question) : await askLine(question);
  }
  return answers;
}

/** A yes/no question at the terminal; anything but y/yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  const answer = await askLine(question);
  return /^\s*y(es)?\s*$/i.test(answer);
}
