/**
 * The console's JSON API, the handlers behind http-server.ts's routes:
 * history (downsampled in the database), config checks and changes, node
 * removal, status. Each says what went wrong in its error.
 */
import { CliError } from "../../common/errors";
import type { QuerySource } from "../collect/control-socket";
import { checkSettings, type ChangeRequest, type ConfigChanges } from "./config-changes";
import type { FleetState } from "./fleet-state";
import type { HistorySource } from "./history-source";
import { HttpError, type ApiHandler } from "./http-server";
import type { LiveLink } from "./live-link";
import type { PushHub } from "./push-hub";

/** Buckets of a history request when the page does not say (about a chart's width in pixels). */
const DEFAULT_POINTS = 1000;
const MAX_POINTS = 5000;
/** Events and acks sent with a history. */
const MESSAGES_LIMIT = 500;
/** The longest range a chart asks for (the page offers 30 days). */
const MAX_RANGE_MS = 400 * 86_400_000;

export interface ApiDeps {
  history: HistorySource;
  changes: ConfigChanges;
  pushes: PushHub;
  fleet: FleetState;
  link: LiveLink;
  /** The retained status topic of a node. */
  statusTopic: (node: string) => string;
  /** What /api/status adds to the counts. */
  status: () => Record<string, unknown>;
  /** Where the last history came from (or why none), for status and new pages. */
  onHistory: (via: string) => void;
}

export function consoleApi(d: ApiDeps): Record<string, ApiHandler> {
  return {
    "GET /api/history": async (_body, url) => {
      const query = historyQuery(url);
      const answer = await d.history.run(async (source: QuerySource) => ({
        history: await source.nodeHistory(query),
        messages: await source.nodeMessages({ node: query.node, fromMs: query.fromMs, toMs: query.toMs, limit: MESSAGES_LIMIT }),
      }));
      d.onHistory("unavailable" in answer ? `none: ${answer.unavailable}` : answer.via);
      return "unavailable" in answer ? answer : { ...answer.value, via: answer.via };
    },
    "POST /api/config/check": async (body) => ({ errors: checkSettings((body as { settings?: unknown } | null)?.settings ?? {}) }),
    "POST /api/config": async (body) => {
      const request = body as Partial<ChangeRequest> | null;
      let sent: Awaited<ReturnType<ConfigChanges["send"]>>;
      try {
        sent = await d.changes.send({ settings: request?.settings ?? {}, target: request?.target ?? [] });
      } catch (error) {
        // A CliError is the counter file's refusal (a counter far ahead); anything else is the broker's.
        throw new HttpError(error instanceof CliError ? 409 : 502, (error as Error).message);
      }
      if ("errors" in sent) {
        throw new HttpError(400, sent.errors.map((e) => (e.key !== "" ? `${e.key} ${e.reason}` : e.reason)).join("; "));
      }
      d.pushes.changeSent(sent.summary);
      return sent.summary;
    },
    "GET /api/changes": async () => d.changes.recent(),
    "POST /api/nodes/remove": async (body) => {
      const node = (body as { node?: unknown } | null)?.node;
      if (typeof node !== "string" || node === "" || /[/+#]/.test(node)) {
        throw new HttpError(400, "node must be a node id (no /, + or #)");
      }
      // Clearing the retained status removes the node everywhere it is watched: here, other consoles, Home Assistant.
      await d.link.publish(d.statusTopic(node), "", true);
      return { removed: node };
    },
    "GET /api/status": async () => {
      const totals = d.fleet.totals();
      return { nodes: totals.nodes, ratePerMinute: totals.ratePerMinute, heard: d.fleet.heard, pages: d.pushes.pages, connected: d.link.connected(), ...d.status() };
    },
  };
}

function historyQuery(url: URL): { node: string; fromMs: number; toMs: number; points: number } {
  const node = url.searchParams.get("node") ?? "";
  const fromMs = Number(url.searchParams.get("from"));
  const toMs = Number(url.searchParams.get("to"));
  const points = Number(url.searchParams.get("points") ?? DEFAULT_POINTS);
  if (node === "") {
    throw new HttpError(400, "say which node: ?node=<id>");
  }
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || toMs <= fromMs || toMs - fromMs > MAX_RANGE_MS) {
    throw new HttpError(400, "from and to must be times in ms since 1970, from before to, at most 400 days apart");
  }
  if (!Number.isInteger(points) || points < 1) {
    throw new HttpError(400, "points must be a whole number above 0");
  }
  return { node, fromMs, toMs, points: Math.min(points, MAX_POINTS) };
}
