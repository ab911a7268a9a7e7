/**
 * Config changes sent from the page: checked against the node's own schema
 * (firmware/core/config.ts applyChange, the code the node runs), signed on
 * the server when a fleet key is configured (the key never reaches the
 * page), published, and followed ack by ack.
 *
 * A change for a selection names its nodes in `target`; a node refuses a
 * message over MAX_CONFIG_BYTES (512), so a long selection goes as several
 * messages, each naming a share of the nodes, all with the same `req` (one
 * change for the page) and, when signed, each its own counter.
 */
import { applyChange, defaultConfig, ENVELOPE_KEYS, MAX_CONFIG_BYTES, type ConfigError } from "../../firmware/core/config";
import { newRequestId, type ConfigAck } from "../config/change";
import { encodeConfigChange, type Signing } from "../config/signing";

/** Most node ids listed per reason and for the missing, in a summary. */
const LISTED = 20;

export interface ChangeRequest {
  /** Settable keys and values; none: a query (each node answers with its config). */
  settings: Record<string, unknown>;
  /** "all": every node (no `target`); else these node ids. */
  target: "all" | string[];
}

export interface ChangeSummary {
  req: string;
  atMs: number;
  settings: Record<string, unknown>;
  /** "all", or how many nodes were named. */
  target: "all" | number;
  signed: boolean;
  /** config_change messages it took (a long selection needs several). */
  messages: number;
  applied: number;
  rejected: number;
  /** Rejections grouped by reason: the first ids of each. */
  reasons: { reason: string; count: number; ids: string[] }[];
  /** Named nodes that have not answered (all of them until acks come). */
  waiting: number;
  waitingIds: string[];
  /** Past the ack timeout: the waiting ones are not expected any more. */
  timedOut: boolean;
}

interface Change {
  req: string;
  atMs: number;
  settings: Record<string, unknown>;
  targets: Set<string> | undefined;
  signed: boolean;
  messages: number;
  acks: Map<string, { result: "applied" | "rejected"; reasons: string }>;
  timedOut: boolean;
}

export interface ChangesOptions {
  /** Publish one config_change text (QoS 1). */
  publish: (payload: string) => Promise<void>;
  /** A signing for one message (a fresh counter each), or undefined: unsigned. */
  signing: () => Signing | undefined;
  ackTimeoutMs: number;
  /** Told when a change times out (its summary changed). */
  onTimeout: (req: string) => void;
}

/** "key reason; key reason", as `espfleet config` prints a rejection. */
export function reasonText(errors: { key: string; reason: string }[] | undefined): string {
  return (errors ?? []).map((e) => (e.key !== "" ? `${e.key} ${e.reason}` : e.reason)).join("; ") || "no reason given";
}

/**
 * Why `settings` would be refused by every node, per key (empty: none).
 * Only settable keys are settings: `target`, `req`, `sig`, `ctr` are the
 * console's to set, and `fleet_key_enc` is for `espfleet config`'s rotation.
 */
export function checkSettings(settings: unknown): ConfigError[] {
  if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
    return [{ key: "", reason: "settings must be a JSON object of config keys" }];
  }
  const errors: ConfigError[] = [];
  for (const key of Object.keys(settings)) {
    if (ENVELOPE_KEYS.includes(key) || key === "fleet_key_enc") {
      errors.push({ key, reason: "is not a setting (the console sets it)" });
    }
  }
  const checked = applyChange(defaultConfig(), settings as Record<string, unknown>, ENVELOPE_KEYS);
  return [...errors, ...checked.errors];
}

export class ConfigChanges {
  private readonly changes = new Map<string, Change>();
  private readonly order: string[] = [];
  private static readonly KEPT = 20;

  constructor(private readonly options: ChangesOptions) {}

  /** Check, split, sign and publish; returns the change's summary, or the schema's objections. */
  async send(request: ChangeRequest, nowMs = Date.now()): Promise<{ summary: ChangeSummary } | { errors: ConfigError[] }> {
    const errors = checkSettings(request.settings);
    if (request.target !== "all" && (!Array.isArray(request.target) || request.target.length === 0 || request.target.some((id) => typeof id !== "string" || id === ""))) {
      errors.push({ key: "target", reason: 'must be "all" or a non-empty list of node ids' });
    }
    if (errors.length > 0) {
      return { errors };
    }
    const req = newRequestId();
    const ids = request.target === "all" ? undefined : [...new Set(request.target)];
    const texts = this.messages(request.settings, req, ids);
    if (typeof texts === "string") {
      return { errors: [{ key: "target", reason: texts }] };
    }
    const change: Change = {
      req,
      atMs: nowMs,
      settings: request.settings,
      targets: ids === undefined ? undefined : new Set(ids),
      signed: false,
      messages: texts.length,
      acks: new Map(),
      timedOut: false,
    };
    this.remember(change);
    for (const body of texts) {
      const signing = this.options.signing();
      change.signed = signing !== undefined;
      await this.options.publish(encodeConfigChange(body, signing));
    }
    setTimeout(() => {
      change.timedOut = true;
      this.options.onTimeout(req);
    }, this.options.ackTimeoutMs).unref();
    return { summary: this.summary(change) };
  }

  /** An ack heard on config_ack/<id>; returns the req of the change it answers, if it is one of ours. */
  ack(ack: Omit<ConfigAck, "latencyMs">): string | undefined {
    const change = ack.req !== undefined ? this.changes.get(ack.req) : undefined;
    if (change === undefined || (change.targets !== undefined && !change.targets.has(ack.id))) {
      return undefined;
    }
    change.acks.set(ack.id, { result: ack.result, reasons: ack.result === "rejected" ? reasonText(ack.errors) : "" });
    return change.req;
  }

  get(req: string): ChangeSummary | undefined {
    const change = this.changes.get(req);
    return change !== undefined ? this.summary(change) : undefined;
  }

  /** The last changes, newest first. */
  recent(): ChangeSummary[] {
    return this.order.map((req) => this.summary(this.changes.get(req) as Change)).reverse();
  }

  /** The bodies to publish: one, or for a long selection as many as the 512-byte limit needs. */
  private messages(settings: Record<string, unknown>, req: string, ids: string[] | undefined): Record<string, unknown>[] | string {
    const body = (target: string[] | undefined): Record<string, unknown> => ({
      ...settings,
      ...(target === undefined ? {} : { target: target.length === 1 ? target[0] : target }),
      req,
    });
    // Measured as the longest it can be on the wire: signed, with the largest counter.
    const size = (b: Record<string, unknown>): number => Buffer.byteLength(encodeConfigChange(b, { key: "k", counter: 2147483647 }));
    if (ids === undefined) {
      return [body(undefined)];
    }
    const out: Record<string, unknown>[] = [];
    let chunk: string[] = [];
    for (const id of ids) {
      if (chunk.length > 0 && size(body([...chunk, id])) > MAX_CONFIG_BYTES) {
        out.push(body(chunk));
        chunk = [];
      }
      chunk.push(id);
      if (size(body(chunk)) > MAX_CONFIG_BYTES) {
        return `node id "${id.slice(0, 40)}" with these settings does not fit in one ${MAX_CONFIG_BYTES}-byte config_change; send fewer settings at once`;
      }
    }
    out.push(body(chunk));
    return out;
  }

  private remember(change: Change): void {
    this.changes.set(change.req, change);
    this.order.push(change.req);
    while (this.order.length > ConfigChanges.KEPT) {
      this.changes.delete(this.order.shift() as string);
    }
  }

  private summary(change: Change): ChangeSummary {
    let applied = 0;
    const byReason = new Map<string, string[]>();
    for (const [id, ack] of change.acks) {
      if (ack.result === "applied") {
        applied++;
      } else {
        const ids = byReason.get(ack.reasons);
        if (ids === undefined) {
          byReason.set(ack.reasons, [id]);
        } else {
          ids.push(id);
        }
      }
    }
    const waiting = change.targets === undefined ? [] : [...change.targets].filter((id) => !change.acks.has(id));
    return {
      req: change.req,
      atMs: change.atMs,
      settings: change.settings,
      target: change.targets === undefined ? "all" : change.targets.size,
      signed: change.signed,
      messages: change.messages,
      applied,
      rejected: change.acks.size - applied,
      reasons: [...byReason].map(([reason, ids]) => ({ reason, count: ids.length, ids: ids.slice(0, LISTED) })),
      waiting: waiting.length,
      waitingIds: waiting.slice(0, LISTED),
      timedOut: change.timedOut,
    };
  }
}
