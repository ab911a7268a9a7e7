// The fleet as the page holds it: one row per node in typed-array columns,
// filled from the server's pushes (whole table, then deltas: see
// ops/console/push-hub.ts), and the order of the rows shown (filter, sort).
// 10,000 rows sort in a few milliseconds; only the rows on screen are drawn.

export const NUMBERS = ["state", "seen", "rate", "gaps", "dups", "drops", "reboots"];
export const TEXTS = ["fw", "config", "ackReq", "ack"];
/** Columns whose values make a row a "problem" row. */
const PROBLEMS = ["gaps", "dups", "drops", "reboots"];

export class FleetModel {
  constructor() {
    this.reset();
    this.sortKey = "node";
    this.desc = false;
    this.filterText = "";
    this.filterState = "all";
    this.problemsOnly = false;
    this.selected = new Set();
  }

  reset() {
    this.capacity = 0;
    this.ids = [];
    this.lower = [];
    this.present = new Uint8Array(0);
    this.num = Object.fromEntries(NUMBERS.map((n) => [n, new Float64Array(0)]));
    this.text = Object.fromEntries(TEXTS.map((n) => [n, new Int32Array(0)]));
    this.strings = [""];
    this.order = new Int32Array(0);
    this.shown = 0;
    this.nodes = 0;
    this.totals = undefined;
    this.orderStale = true;
  }

  /** One push from the server; returns true when the rows shown may have changed order or membership. */
  apply(message) {
    if (message.full) {
      const keep = this.selected;
      this.reset();
      this.selected = keep;
    }
    const now = Date.now();
    for (const [i, id] of message.ids) {
      this.ensure(i + 1);
      if (this.ids[i] === undefined || this.present[i] === 0) {
        this.nodes++;
      }
      this.ids[i] = id;
      this.lower[i] = id.toLowerCase();
      this.present[i] = 1;
      this.orderStale = true;
    }
    for (const i of message.removed) {
      if (this.present[i] === 1) {
        this.present[i] = 0;
        this.nodes--;
        this.selected.delete(this.ids[i]);
        this.orderStale = true;
      }
    }
    for (const [k, s] of message.strings) {
      this.strings[k] = s;
    }
    for (const [name, [deltas, values]] of Object.entries(message.cols)) {
      const column = this.num[name];
      let i = 0;
      for (let k = 0; k < deltas.length; k++) {
        i += deltas[k];
        // "seen" comes as seconds ago: kept as a time on this page's clock.
        column[i] = name === "seen" ? (values[k] < 0 ? 0 : now - values[k] * 1000) : values[k];
      }
      if (name === this.sortKey || name === "state" || PROBLEMS.includes(name)) {
        this.orderStale = true;
      }
    }
    for (const [name, [deltas, values]] of Object.entries(message.texts)) {
      const column = this.text[name];
      let i = 0;
      for (let k = 0; k < deltas.length; k++) {
        i += deltas[k];
        column[i] = values[k];
      }
      if (name === this.sortKey) {
        this.orderStale = true;
      }
    }
    this.totals = message.totals;
    return this.orderStale;
  }

  textOf(name, i) {
    return this.strings[this.text[name][i]] ?? "";
  }

  setSort(key) {
    if (this.sortKey === key) {
      this.desc = !this.desc;
    } else {
      this.sortKey = key;
      this.desc = key !== "node";
    }
    this.orderStale = true;
  }

  setFilter(text, state, problemsOnly) {
    this.filterText = text.trim().toLowerCase();
    this.filterState = state;
    this.problemsOnly = problemsOnly;
    this.orderStale = true;
  }

  /** Recompute which rows are shown and in which order, when something it depends on changed. */
  refresh() {
    if (!this.orderStale) {
      return false;
    }
    this.orderStale = false;
    const n = this.ids.length;
    if (this.order.length < n) {
      this.order = new Int32Array(Math.max(64, n * 2));
    }
    const state = this.num.state;
    const wantState = this.filterState === "all" ? -1 : Number(this.filterState);
    let shown = 0;
    for (let i = 0; i < n; i++) {
      if (this.present[i] === 0) continue;
      if (wantState >= 0 && state[i] !== wantState) continue;
      if (this.filterText !== "" && !this.lower[i].includes(this.filterText)) continue;
      if (this.problemsOnly && PROBLEMS.every((p) => this.num[p][i] === 0)) continue;
      this.order[shown++] = i;
    }
    this.shown = shown;
    const view = this.order.subarray(0, shown);
    const ids = this.ids;
    const byId = (a, b) => (ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0);
    const sign = this.desc ? -1 : 1;
    let compare;
    if (this.sortKey === "node") {
      compare = byId;
    } else if (this.num[this.sortKey] !== undefined) {
      const col = this.num[this.sortKey];
      compare = (a, b) => col[a] - col[b] || byId(a, b);
    } else {
      const col = this.text[this.sortKey];
      const strings = this.strings;
      compare = (a, b) => {
        const x = strings[col[a]] ?? "";
        const y = strings[col[b]] ?? "";
        return x < y ? -1 : x > y ? 1 : byId(a, b);
      };
    }
    view.sort(sign === 1 ? compare : (a, b) => -compare(a, b));
    return true;
  }

  /** Ids of the rows shown, in order. */
  shownIds() {
    const out = [];
    for (let k = 0; k < this.shown; k++) {
      out.push(this.ids[this.order[k]]);
    }
    return out;
  }

  ensure(n) {
    if (n <= this.capacity) {
      return;
    }
    const size = Math.max(64, n * 2);
    const grow = (old, make) => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.present = grow(this.present, (s) => new Uint8Array(s));
    for (const name of NUMBERS) this.num[name] = grow(this.num[name], (s) => new Float64Array(s));
    for (const name of TEXTS) this.text[name] = grow(this.text[name], (s) => new Int32Array(s));
    this.capacity = size;
  }
}
