// The console's page: two views (the fleet, one node) chosen by the URL's
// hash (#/ and #/node/<id>), fed by one WebSocket. Plain ES modules and
// uPlot; no framework.

import { ConfigForm } from "./config-form.js";
import { count } from "./format.js";
import { FleetModel } from "./fleet-model.js";
import { FleetTable } from "./fleet-table.js";
import { NodeView } from "./node-view.js";
import { connectSocket } from "./socket.js";

const $ = (id) => document.getElementById(id);
const model = new FleetModel();
let hello = null;
let table = null;
let fleetForm = null;
let nodeForm = null;
let nodeView = null;
let changes = [];
/** How long the page spends on each push (read by npm run bench:console). */
const stats = { pushes: 0, totalMs: 0, maxMs: 0 };
window.espfleetStats = stats;

const socket = connectSocket(onMessage, (up) => {
  if (!up) setLink(false, "console: reconnecting…");
});

function onMessage(message) {
  switch (message.type) {
    case "hello":
      hello = message;
      setLink(message.connected, message.broker);
      if (table === null) start();
      break;
    case "fleet": {
      const t0 = performance.now();
      model.apply(message);
      table.update();
      showTotals();
      nodeView.tick();
      const ms = performance.now() - t0;
      stats.pushes++;
      stats.totalMs += ms;
      stats.maxMs = Math.max(stats.maxMs, ms);
      break;
    }
    case "live":
      nodeView.onLive(message);
      break;
    case "event":
      nodeView.onEvent(message);
      break;
    case "change":
      fleetForm.changed(message.change);
      nodeForm?.changed(message.change);
      break;
    case "changes":
      changes = message.changes;
      break;
    case "link":
      setLink(message.connected, hello?.broker ?? "");
      break;
  }
}

function start() {
  table = new FleetTable(model, { thead: $("thead"), scroller: $("scroller"), spacer: $("spacer") }, (id) => (location.hash = `#/node/${encodeURIComponent(id)}`), () => {
    $("selected").textContent = `${count(model.selected.size)} selected`;
    fleetForm.refreshTargets();
  });
  fleetForm = new ConfigForm($("fleet-config"), hello, fleetTargets, "Change config");
  nodeView = new NodeView(
    { ranges: $("ranges"), charts: $("charts"), note: $("history-note"), events: $("events"), title: $("node-title"), facts: $("node-facts"), remove: $("node-remove") },
    hello,
    model,
    socket,
  );
  const filter = () => {
    model.setFilter($("filter").value, $("state-filter").value, $("problems").checked);
    table.update();
    showTotals();
  };
  $("filter").addEventListener("input", filter);
  $("state-filter").addEventListener("change", filter);
  $("problems").addEventListener("change", filter);
  $("select-shown").addEventListener("click", () => {
    for (const id of model.shownIds()) model.selected.add(id);
    $("selected").textContent = `${count(model.selected.size)} selected`;
    fleetForm.refreshTargets();
    table.update();
  });
  $("select-none").addEventListener("click", () => {
    model.selected.clear();
    $("selected").textContent = "0 selected";
    fleetForm.refreshTargets();
    table.update();
  });
  addEventListener("hashchange", route);
  route();
  if (changes.length > 0) fleetForm.show(changes[0]);
}

/** The fleet form's targets: the selected nodes, or every node when none is selected. */
function fleetTargets() {
  const n = model.selected.size;
  return n > 0 ? { target: [...model.selected], label: `the ${count(n)} selected node${n === 1 ? "" : "s"}` } : { target: "all", label: "every node (none selected)" };
}

function route() {
  const match = /^#\/node\/(.+)$/.exec(location.hash);
  const node = match !== null ? decodeURIComponent(match[1]) : null;
  $("fleet-view").hidden = node !== null;
  $("node-view").hidden = node === null;
  if (node !== null) {
    nodeForm = new ConfigForm($("node-config"), hello, () => ({ target: [node], label: node }), `Change ${node}'s config`);
    nodeView.open(node);
    document.title = `${node} · espfleet console`;
  } else {
    nodeView.close();
    nodeForm = null;
    document.title = "espfleet console";
    table.update();
  }
}

function showTotals() {
  const t = model.totals;
  if (t === undefined) return;
  $("totals").textContent = `${count(t.nodes)} nodes · ${count(t.online)} online · ${count(t.offline)} offline · ${count(t.ratePerMinute)} readings/min · gaps ${count(t.gaps)} · dups ${count(t.dups)} · dropped ${count(t.drops)} · reboots ${count(t.reboots)}`;
  $("shown").textContent = `${count(model.shown)} shown`;
}

function setLink(up, text) {
  const el = $("link");
  el.className = `link ${up ? "up" : "down"}`;
  el.textContent = up ? `● ${text}` : `○ ${text}`;
}
