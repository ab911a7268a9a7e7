/**
 * The login of every node of `espfleet run`: one shared user, or one user
 * per node from `--user node-{id}`, with passwords from `--credentials`
 * (make-passwd.sh's file), `--password` or MQTT_PASSWORD. Checked for the
 * whole fleet before any node starts, so a missing password is one clear
 * error rather than thousands of refused logins.
 */
import { type BrokerTarget, loginFor } from "../broker/target";
import { CliError } from "../common/errors";
import { readCredentialsFile } from "../broker/credentials";
import { nodeId } from "./node-ids";

export interface FleetLoginFlags {
  /** Per-node user name template (`node-{id}`). */
  user?: string;
  /** Shared user name (also a template if it holds {id} or {node}). */
  username?: string;
  password?: string;
  credentials?: string;
}

/** A node stores at most this many characters of mqtt_user and of mqtt_password (firmware/core/config.ts). */
const NODE_LOGIN_MAX = 64;
/** Users named in an error before "…". */
const NAMED = 5;

/**
 * Set `target.logins` (and the shared password) from the flags, for the
 * nodes `first` … `first + count - 1`; throws a CliError naming the first
 * few nodes whose login cannot work. `target` comes from parseBrokerTarget.
 */
export function applyFleetLogins(target: BrokerTarget, flags: FleetLoginFlags, range: { first: number; count: number }, env: NodeJS.ProcessEnv = process.env): void {
  if (flags.user !== undefined && flags.username !== undefined) {
    throw new CliError("give --user (a per-node name such as node-{id}) or --username (one name for every node), not both", 2);
  }
  const shared = target.username !== "" ? target.username : env.MQTT_USERNAME;
  const template = flags.user ?? shared ?? (flags.credentials !== undefined ? "{node}" : undefined);
  if (target.password === "" && flags.credentials === undefined && env.MQTT_PASSWORD !== undefined) {
    target.password = env.MQTT_PASSWORD;
  }
  if (template === undefined || template === "") {
    // Anonymous nodes: fine for a broker that allows them.
    return;
  }
  const passwords = flags.credentials !== undefined ? readCredentialsFile(flags.credentials) : undefined;
  target.username = template;
  target.logins = passwords !== undefined ? { userTemplate: template, passwords } : { userTemplate: template };

  const missing: string[] = [];
  const tooLong: string[] = [];
  for (let n = range.first; n < range.first + range.count; n++) {
    const id = nodeId(n);
    const login = loginFor(target, id);
    if (passwords !== undefined && passwords[login.user] === undefined) {
      missing.push(login.user);
    } else if (login.user.length > NODE_LOGIN_MAX || login.password.length > NODE_LOGIN_MAX) {
      tooLong.push(id);
    }
  }
  if (missing.length > 0) {
    const unique = [...new Set(missing)];
    throw new CliError(
      `${missing.length} of ${range.count} nodes have no password in --credentials ${flags.credentials}: no user ${named(unique)}; ` +
        `add them with docs/mosquitto/make-passwd.sh --ids ${unique.slice(0, NAMED).join(",")}${unique.length > NAMED ? ",…" : ""} --out <dir> (or --nodes ${range.first + range.count - 1}), or check --user`,
      2,
    );
  }
  if (tooLong.length > 0) {
    throw new CliError(`${tooLong.length} nodes would get a user name or password longer than the ${NODE_LOGIN_MAX} characters a node stores: ${named(tooLong)}`, 2);
  }
}

function named(items: string[]): string {
  const shown = items.slice(0, NAMED).map((s) => `"${s}"`);
  return items.length > NAMED ? `${shown.join(", ")} and ${items.length - NAMED} more` : shown.join(", ");
}
