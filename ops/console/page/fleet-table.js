// The fleet table, virtualised: a spacer as tall as every row, and a small
// pool of row elements moved to where the scroll position is. Only the rows
// on screen are ever in the page, so 10,000 nodes cost what 40 do.

import { ago, configLine, count } from "./format.js";

const ROW = 28;
/** Rows drawn above and below the visible ones, so a fast scroll shows no blank. */
const OVERSCAN = 8;
const STATES = ["no status", "online", "offline", "faulted"];

const COLUMNS = [
  { key: "sel", title: "" },
  { key: "node", title: "node" },
  { key: "state", title: "state" },
  { key: "seen", title: "last seen" },
  { key: "rate", title: "rdg/min", num: true, help: "readings in the last minute" },
  { key: "gaps", title: "gaps", num: true, help: "readings lost (seq jumps)" },
  { key: "dups", title: "dups", num: true, help: "readings received twice" },
  { key: "drops", title: "dropped", num: true, help: "readings the node's full buffer dropped" },
  { key: "reboots", title: "reboots", num: true },
  { key: "fw", title: "fw" },
  { key: "config", title: "config (as acked)" },
  { key: "ack", title: "last change" },
];

export class FleetTable {
  constructor(model, { thead, scroller, spacer }, onOpen, onSelection) {
    this.model = model;
    this.scroller = scroller;
    this.spacer = spacer;
    this.onOpen = onOpen;
    this.onSelection = onSelection;
    this.pool = [];
    this.scheduled = false;
    this.headers = COLUMNS.map((c) => {
      const span = document.createElement("span");
      span.textContent = c.title;
      span.dataset.key = c.key;
      if (c.num) span.className = "num";
      if (c.help) span.title = c.help;
      thead.append(span);
      return span;
    });
    thead.addEventListener("click", (event) => {
      const key = event.target.dataset?.key;
      if (key !== undefined && key !== "sel") {
        model.setSort(key);
        this.update();
      }
    });
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
    scroller.addEventListener("click", (event) => {
      const row = event.target.closest(".row");
      if (row === null || row.dataset.i === undefined) return;
      const id = model.ids[Number(row.dataset.i)];
      if (event.target.closest(".sel") !== null) {
        if (model.selected.has(id)) model.selected.delete(id);
        else model.selected.add(id);
        this.onSelection();
        this.draw(true);
      } else {
        this.onOpen(id);
      }
    });
  }

  /** After a push or a filter/sort change: reorder if needed, redraw what is on screen. */
  update() {
    const reordered = this.model.refresh();
    this.spacer.style.height = `${this.model.shown * ROW}px`;
    this.headers.forEach((h, k) => {
      const key = COLUMNS[k].key;
      h.classList.toggle("sorted", key === this.model.sortKey);
      h.classList.toggle("desc", key === this.model.sortKey && this.model.desc);
    });
    this.draw(reordered);
  }

  schedule() {
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => {
        this.scheduled = false;
        this.draw(false);
      });
    }
  }

  draw() {
    const t0 = performance.now();
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.model.shown, Math.ceil((top + height) / ROW) + OVERSCAN);
    const needed = Math.ceil(height / ROW) + 2 * OVERSCAN + 1;
    if (this.pool.length < needed) {
      while (this.pool.length < needed) this.pool.push(this.makeRow());
      for (const el of this.pool) el.r = -1; // the mapping below changes with the pool's size
    }
    // Row r is always drawn by element r % pool size: scrolling by a few rows touches only those rows,
    // the others keep their place and content.
    const size = this.pool.length;
    for (let k = 0; k < size; k++) {
      const el = this.pool[k];
      // The row this element shows in [first, last), if any.
      const r = first + ((k - (first % size) + size) % size);
      if (r >= last) {
        if (el.style.display !== "none") el.style.display = "none";
        el.r = -1;
        continue;
      }
      if (el.style.display === "none") el.style.display = "";
      this.fill(el, this.model.order[r], r);
    }
    const ms = performance.now() - t0;
    if (window.espfleetStats !== undefined) {
      window.espfleetStats.drawMaxMs = Math.max(window.espfleetStats.drawMaxMs ?? 0, ms);
    }
  }

  makeRow() {
    const el = document.createElement("div");
    el.className = "row";
    el.cells = COLUMNS.map((c) => {
      const span = document.createElement("span");
      span.className = c.key === "sel" ? "sel" : c.num ? "num" : "";
      el.append(span);
      return span;
    });
    el.cache = COLUMNS.map(() => undefined);
    this.scroller.append(el);
    return el;
  }

  fill(el, i, r) {
    const m = this.model;
    if (el.r !== r) {
      el.r = r;
      el.style.transform = `translateY(${r * ROW}px)`;
    }
    el.dataset.i = String(i);
    const id = m.ids[i];
    el.classList.toggle("selected", m.selected.has(id));
    const state = m.num.state[i];
    const ack = m.textOf("ack", i);
    const values = [
      m.selected.has(id) ? "☑" : "☐",
      id,
      STATES[state] ?? "?",
      ago(m.num.seen[i]),
      count(m.num.rate[i]),
      count(m.num.gaps[i]),
      count(m.num.dups[i]),
      count(m.num.drops[i]),
      count(m.num.reboots[i]),
      m.textOf("fw", i),
      configLine(m.textOf("config", i)),
      ack,
    ];
    for (let c = 0; c < values.length; c++) {
      if (el.cache[c] !== values[c]) {
        el.cache[c] = values[c];
        el.cells[c].textContent = values[c];
        if (c === 2) el.cells[c].className = `state-${state}`;
        if (c >= 5 && c <= 8) el.cells[c].className = values[c] !== "0" ? "num nonzero" : "num";
        if (c === 11) {
          el.cells[c].className = ack.startsWith("applied") ? "ack-applied" : ack.startsWith("rejected") ? "ack-rejected" : "";
          el.cells[c].title = ack;
        }
        if (c === 10) el.cells[c].title = m.textOf("config", i);
      }
    }
  }
}
