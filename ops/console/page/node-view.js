// One node: a chart per sensor over a time range (the last minute to the
// last 30 days, or a range dragged across a chart), history from the
// collector's database downsampled on the server (GET /api/history), and
// while the range ends now, the node's readings as they arrive (pushed by
// the server for the node being looked at). Its events and acks are marks
// on the same time axis and lines in the table below.

import { getJSON, postJSON } from "./api.js";
import { makeChart, markColour } from "./charts.js";
import { ago, clock, configLine } from "./format.js";

export const RANGES = [
  ["1 min", 60e3],
  ["10 min", 600e3],
  ["1 h", 3600e3],
  ["6 h", 6 * 3600e3],
  ["1 d", 86400e3],
  ["7 d", 7 * 86400e3],
  ["30 d", 30 * 86400e3],
];
const EVENTS_SHOWN = 200;
/** Live readings kept for a chart that follows now (a minute at 2 Hz, and then some). */
const LIVE_KEPT = 4000;

export class NodeView {
  constructor(els, hello, model, socket) {
    this.els = els;
    this.hello = hello;
    this.model = model;
    this.socket = socket;
    this.node = null;
    this.charts = new Map();
    this.rangeMs = 600e3;
    this.custom = null; // { from, to } after a drag: not following now
    this.history = null;
    this.historyTo = 0;
    this.live = { t: [], values: {} };
    this.events = [];
    this.loading = 0;
    this.buttons = RANGES.map(([label, ms]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => {
        this.rangeMs = ms;
        this.custom = null;
        this.load();
      });
      els.ranges.append(b);
      return b;
    });
    this.liveButton = document.createElement("button");
    this.liveButton.type = "button";
    this.liveButton.textContent = "back to now";
    this.liveButton.hidden = true;
    this.liveButton.addEventListener("click", () => {
      this.custom = null;
      this.load();
    });
    els.ranges.append(this.liveButton);
    els.remove.addEventListener("click", async () => {
      if (this.node === null || !confirm(`Remove ${this.node}? Its retained status is cleared: it leaves the table (and Home Assistant) until it is heard again.`)) return;
      try {
        await postJSON("/api/nodes/remove", { node: this.node });
        location.hash = "#/";
      } catch (error) {
        alert(`not removed: ${error.message}`);
      }
    });
    new ResizeObserver(() => {
      const w = this.width();
      for (const c of this.charts.values()) c.resize(w);
    }).observe(els.charts);
  }

  open(node) {
    if (this.node !== node) {
      this.node = node;
      this.custom = null;
      this.live = { t: [], values: {} };
      this.events = [];
      this.history = null;
      for (const c of this.charts.values()) c.destroy();
      this.charts.clear();
      this.els.charts.replaceChildren();
      this.els.title.textContent = node;
      this.socket.watch(node);
    }
    this.load();
    this.facts();
  }

  close() {
    this.node = null;
    this.socket.watch(null);
  }

  width() {
    return Math.max(300, this.els.charts.clientWidth - 10);
  }

  range() {
    if (this.custom !== null) return this.custom;
    const to = Date.now();
    return { from: to - this.rangeMs, to };
  }

  async load() {
    const node = this.node;
    const { from, to } = this.range();
    this.buttons.forEach((b, k) => b.setAttribute("aria-pressed", String(this.custom === null && RANGES[k][1] === this.rangeMs)));
    this.liveButton.hidden = this.custom === null;
    const ticket = ++this.loading;
    this.els.note.textContent = "loading history…";
    let answer;
    try {
      answer = await getJSON(`/api/history?node=${encodeURIComponent(node)}&from=${Math.floor(from)}&to=${Math.ceil(to)}&points=${Math.round(this.width())}`);
    } catch (error) {
      answer = { unavailable: error.message };
    }
    if (ticket !== this.loading || node !== this.node) return; // a newer request is on its way
    if (answer.unavailable !== undefined) {
      this.history = null;
      this.els.note.textContent = `no history: ${answer.unavailable}. Showing readings as they arrive.`;
    } else {
      this.history = answer.history;
      this.historyTo = to;
      const h = answer.history;
      this.els.note.textContent = `${h.t.length} points from ${answer.via}, one point per ${seconds(h.bucketMs)} (average; the band: min–max)${h.source === "minutes" ? ", from per-minute sums" : ""}.`;
      const seen = new Set(this.events.map((e) => `${e.timeMs}/${e.kind}/${e.code}`));
      for (const m of answer.messages) {
        if (!seen.has(`${m.timeMs}/${m.kind}/${m.code}`)) this.events.push(m);
      }
      this.events.sort((a, b) => a.timeMs - b.timeMs);
    }
    this.draw();
    this.listEvents();
  }

  /** Readings pushed for the node being looked at. */
  onLive(message) {
    if (message.node !== this.node) return;
    const live = this.live;
    for (let k = 0; k < message.t.length; k++) {
      live.t.push(message.t[k]);
      for (const [sensor, values] of Object.entries(message.values)) {
        (live.values[sensor] ??= new Array(live.t.length - 1).fill(null)).push(values[k]);
      }
    }
    for (const values of Object.values(live.values)) {
      while (values.length < live.t.length) values.push(null);
    }
    if (live.t.length > LIVE_KEPT) {
      const cut = live.t.length - LIVE_KEPT;
      live.t.splice(0, cut);
      for (const values of Object.values(live.values)) values.splice(0, cut);
    }
    if (this.custom === null) this.draw();
  }

  /** A status, event or ack of the node being looked at. */
  onEvent(message) {
    if (message.node !== this.node) return;
    this.events.push(message);
    this.listEvents();
    if (this.custom === null) this.draw();
  }

  /** Once a second: the header, and a window following now moves on. */
  tick() {
    if (this.node === null) return;
    this.facts();
    if (this.custom === null) this.draw();
  }

  facts() {
    const m = this.model;
    const i = m.ids.indexOf(this.node);
    if (i < 0) {
      this.els.facts.textContent = "not heard yet";
      return;
    }
    const state = ["no status", "online", "offline", "faulted"][m.num.state[i]] ?? "?";
    const parts = [state, `last seen ${ago(m.num.seen[i])} ago`, `${m.num.rate[i]} readings/min`];
    if (m.textOf("fw", i) !== "") parts.push(`fw ${m.textOf("fw", i)}`);
    const config = configLine(m.textOf("config", i));
    if (config !== "") parts.push(config);
    const ack = m.textOf("ack", i);
    if (ack !== "") parts.push(`last change: ${ack}`);
    this.els.facts.textContent = parts.join(" · ");
  }

  draw() {
    const { from, to } = this.range();
    const h = this.history;
    const live = this.live;
    // Live readings after what the history covers, inside the range.
    const start = live.t.findIndex((t) => t > (h !== null ? this.historyTo : from) && t >= from);
    const liveT = start < 0 ? [] : live.t.slice(start).filter((t) => t <= to);
    const sensors = this.hello.sensors.filter((s) => (h !== null && h.avg[s].some((v) => v !== null)) || (live.values[s] ?? []).some((v) => v !== null));
    const marks = this.events.filter((e) => e.timeMs >= from && e.timeMs <= to);
    for (const sensor of sensors) {
      let chart = this.charts.get(sensor);
      if (chart === undefined) {
        const el = document.createElement("div");
        el.className = "chart";
        this.els.charts.append(el);
        chart = makeChart(el, sensor, this.hello.units[sensor] ?? "", this.width(), (a, b) => {
          this.custom = { from: a, to: b };
          this.load();
        });
        this.charts.set(sensor, chart);
      }
      const lv = start < 0 ? [] : (live.values[sensor] ?? []).slice(start, start + liveT.length);
      const t = h !== null ? h.t.concat(liveT) : liveT;
      const avg = h !== null ? h.avg[sensor].concat(lv) : lv;
      const min = h !== null ? h.min[sensor].concat(lv) : lv;
      const max = h !== null ? h.max[sensor].concat(lv) : lv;
      chart.set([t, avg, min, max], from, to, marks);
      if (t.length > 0 && !this.firstChart) {
        this.firstChart = true;
        performance.mark("espfleet:first-chart");
      }
    }
  }

  listEvents() {
    const body = this.els.events;
    body.replaceChildren();
    for (const e of this.events.slice(-EVENTS_SHOWN).reverse()) {
      const tr = document.createElement("tr");
      const when = document.createElement("td");
      when.textContent = clock(e.timeMs);
      const what = document.createElement("td");
      what.textContent = e.kind === "ack" ? `ack: ${e.code}` : e.code ?? "event";
      what.style.color = markColour(e);
      const details = document.createElement("td");
      details.textContent = describe(e);
      tr.append(when, what, details);
      body.append(tr);
    }
  }
}

function seconds(ms) {
  return ms < 60e3 ? `${ms / 1000} s` : ms < 3600e3 ? `${+(ms / 60e3).toFixed(1)} min` : `${+(ms / 3600e3).toFixed(1)} h`;
}

function describe(e) {
  const b = e.body ?? {};
  if (e.kind === "ack") {
    if (e.code === "rejected") return (b.errors ?? []).map((x) => `${x.key} ${x.reason}`.trim()).join("; ") + (b.req ? ` (req ${b.req})` : "");
    return `${configLine(JSON.stringify(b.config ?? {}))}${b.req ? ` (req ${b.req})` : ""}`;
  }
  return Object.entries(b)
    .filter(([k]) => k !== "id" && k !== "code" && k !== "level")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}
