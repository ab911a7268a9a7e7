/**
 * MQTT logins: the credentials file make-passwd.sh writes (`user:password`
 * lines) and per-node user names from a template (`node-{id}`). Hiding
 * passwords in text is common/secrets.ts.
 */
import { readFileSync, statSync } from "node:fs";
import { CliError } from "../common/errors";
import { checkRegularFile } from "../common/input-file";

/** user -> password, read from a `user:password` file (blank lines and `#` comments skipped). */
export function readCredentialsFile(path: string): Record<string, string> {
  checkRegularFile("--credentials", path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(`cannot read --credentials ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; make one with docs/mosquitto/make-passwd.sh`, 2);
  }
  // No prototype: user names come from the command line and the file, and a plain object answers for `constructor`... (issue 15).
  const passwords: Record<string, string> = Object.create(null) as Record<string, string>;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      // Never echo the line: it may be a password.
      throw new CliError(`--credentials ${path}, line ${i + 1}: expected user:password (as make-passwd.sh writes)`, 2);
    }
    passwords[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return passwords;
}

/** Advice when a credentials file is readable by others (it holds passwords in clear). */
export function credentialsFileWarning(path: string): string | undefined {
  try {
    const mode = statSync(path).mode & 0o777;
    return (mode & 0o077) !== 0 ? `warning: --credentials ${path} is readable by other users (mode ${mode.toString(8)}); chmod 600 ${path}` : undefined;
  } catch {
    return undefined;
  }
}

/** True when `template` names a per-node user (`{id}` or `{node}`). */
export function isUserTemplate(template: string): boolean {
  return template.includes("{id}") || template.includes("{node}");
}

/**
 * A node's user name from a template: `{node}` is the whole id (node-0001),
 * `{id}` the number as the id writes it (0001), so `node-{id}` and `{node}`
 * both give node-0001.
 */
export function expandUser(template: string, nodeId: string): string {
  const number = /(\d+)$/.exec(nodeId)?.[1] ?? nodeId;
  return template.replaceAll("{node}", nodeId).replaceAll("{id}", number);
}
