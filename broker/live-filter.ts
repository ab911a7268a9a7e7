/**
 * Which live messages the embedded broker passes to a client, in place of
 * aedes' own filter (`client.duplicates`, lib/client.js `dedupe`).
 *
 * aedes passes a live message to a client only when its number
 * (`brokerCounter`) is above the highest it has passed to that client, and
 * then raises that mark to it. That assumes messages reach subscribers in
 * the order they were numbered, which is no longer so here: a QoS 1 message
 * is numbered when it arrives and reaches subscribers only once it is
 * queued for the persistent sessions, after a write (session-persistence.ts
 * authorizePublish); a QoS 0 or 2 message that another client publishes
 * during that write is numbered higher and goes out first, and aedes then
 * dropped the QoS 1 message as seen before. Measured with 1,000 QoS 1
 * messages against 1,000 QoS 0 or QoS 2 ones from another client: a
 * subscriber got 171-850 of the 1,000 (test/broker/live-delivery.test.ts),
 * a clean one (a console, `watch`) for good, a persistent one (a
 * collector) only at its next reconnect, out of order.
 *
 * Here the mark is set by the session queues only, and aedes' raising of it
 * is ignored: 0 for a client that is not resuming a session (everything
 * passes); while a resuming session's queue is sent, everything is held
 * (the queue has it); then the number where its queue ended (what is at or
 * below it went out from the queue). The other thing aedes' raise did, one
 * copy for a client whose subscriptions overlap (`t/#` and `t/+` both
 * match), is done by `forwardOnce` as aedes' authorizeForward hook: aedes
 * hands a message to every matching subscription in one synchronous loop
 * (mqemitter), so the copies of one message reach a client one right after
 * the other, and a message with the number just forwarded to the client is
 * a copy.
 */

/** What the filter needs of an aedes client. */
export interface FilteredClient {
  duplicates?: Record<string, number>;
}

/** A live packet, as far as the filter looks at it (retained ones sent on SUBSCRIBE have no brokerId). */
export interface FilteredPacket {
  brokerId?: string | null;
  brokerCounter?: number;
}

interface ClientFilter {
  /** The broker whose numbers these are (aedes' id). */
  brokerId: string;
  /** Live messages numbered at or below this are not passed. */
  from: number;
  /** The number of the last message forwarded, of this broker. */
  last: number;
}

const filters = new WeakMap<object, ClientFilter>();

/**
 * Puts `client` under this filter for messages numbered by broker `brokerId`
 * (aedes' own id; messages of other ids keep aedes' filter). Before anything
 * is delivered to it (aedes' preConnect hook).
 */
export function installLiveFilter(client: FilteredClient, brokerId: string): void {
  filterOf(client, brokerId);
}

/** Hold every live message from `client` (its session's queue is being sent). */
export function holdLive(client: FilteredClient, brokerId: string): void {
  filterOf(client, brokerId).from = Number.POSITIVE_INFINITY;
}

/** Pass live messages numbered above `from` to `client` (its queue went out up to there). */
export function liveFrom(client: FilteredClient, brokerId: string, from: number): void {
  filterOf(client, brokerId).from = from;
}

/** `client`'s filter, installed at the first call. */
function filterOf(client: FilteredClient, brokerId: string): ClientFilter {
  const found = filters.get(client);
  if (found !== undefined) {
    return found;
  }
  const state: ClientFilter = { brokerId, from: 0, last: 0 };
  filters.set(client, state);
  const duplicates = client.duplicates ?? Object.create(null);
  Object.defineProperty(duplicates, brokerId, {
    get: () => state.from,
    // aedes' raise after each message passed: ignored (see above).
    set: () => undefined,
    enumerable: true,
    configurable: true,
  });
  client.duplicates = duplicates;
  return state;
}

/**
 * aedes' authorizeForward hook, for every message the filter passed: the
 * packet, or null for a second copy of the message just forwarded to the
 * client (overlapping subscriptions).
 */
export function forwardOnce<P extends FilteredPacket>(client: FilteredClient, packet: P): P | null {
  const state = filters.get(client);
  const counter = packet.brokerCounter;
  if (state === undefined || packet.brokerId !== state.brokerId || counter === undefined) {
    return packet;
  }
  if (counter === state.last) {
    return null;
  }
  state.last = counter;
  return packet;
}
