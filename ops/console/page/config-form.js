// The config form: one field per key a config_change may set, from the
// node's own schema (sent by the server). Every edit is checked by the
// server with the node's code (POST /api/config/check) before the change
// can be sent; the change's acks then come in over the WebSocket.

import { postJSON } from "./api.js";
import { count } from "./format.js";

const CHECK_DELAY_MS = 200;

export class ConfigForm {
  /**
   * @param root element to build into
   * @param targets () => ({ target: "all" | string[], label: string }) | { error }
   */
  constructor(root, hello, targets, title) {
    this.root = root;
    this.targets = targets;
    this.signed = hello.signed;
    this.req = null;
    this.errors = 0;
    this.fields = new Map();
    root.replaceChildren();
    const h = document.createElement("h2");
    h.textContent = title;
    root.append(h);
    for (const spec of hello.settable) {
      root.append(this.field(spec, hello.units));
    }
    this.targetLine = document.createElement("p");
    this.targetLine.className = "targets";
    const buttons = document.createElement("div");
    this.send = button("send change", "primary", () => this.submit(false));
    this.ask = button("ask for config", "", () => this.submit(true));
    this.ask.title = "an empty change: each node answers with its current config";
    buttons.append(this.send, " ", this.ask);
    this.note = document.createElement("p");
    this.note.className = "muted";
    this.note.textContent = this.signed ? "changes are signed on the server with the fleet key" : "changes are sent unsigned (no --fleet-key-file)";
    this.status = document.createElement("div");
    this.status.className = "change";
    this.status.hidden = true;
    root.append(this.targetLine, buttons, this.note, this.status);
    this.refreshTargets();
    this.check();
  }

  field(spec, units) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.textContent = spec.key;
    const id = `f-${spec.key}-${Math.random().toString(36).slice(2, 7)}`;
    label.htmlFor = id;
    const hint = document.createElement("span");
    hint.className = "hint";
    const error = document.createElement("span");
    error.className = "error";
    let read;
    let input;
    if (spec.kind === "sensors") {
      input = document.createElement("span");
      input.className = "sensors";
      const boxes = Object.keys(units).map((name) => {
        const l = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.value = name;
        box.addEventListener("change", () => this.check());
        l.append(box, ` ${name}`);
        input.append(l);
        return box;
      });
      const set = document.createElement("input");
      set.type = "checkbox";
      set.id = id;
      set.title = "change the sensors";
      set.addEventListener("change", () => this.check());
      label.prepend(set, " ");
      read = () => (set.checked ? boxes.filter((b) => b.checked).map((b) => b.value) : undefined);
      hint.textContent = `tick to change; ${spec.min}-${spec.max} of: ${Object.entries(units)
        .map(([n, u]) => `${n} (${u})`)
        .join(", ")}`;
      wrap.append(label, document.createElement("span"), input, hint, error);
    } else {
      input = document.createElement("input");
      input.id = id;
      input.name = spec.key;
      input.placeholder = String(spec.default);
      if (spec.kind === "integer" || spec.kind === "decimal") {
        input.type = "number";
        input.step = spec.kind === "integer" ? "1" : "any";
      }
      input.addEventListener("input", () => this.check());
      read = () => {
        const raw = input.value.trim();
        if (raw === "") return undefined;
        return spec.kind === "integer" || spec.kind === "decimal" ? Number(raw) : raw;
      };
      hint.textContent = `${spec.min} – ${spec.max}${spec.unit !== "" ? ` ${spec.unit}` : ""}; default ${spec.default}; empty: unchanged`;
      wrap.append(label, input, hint, error);
    }
    this.fields.set(spec.key, { read, error, input });
    return wrap;
  }

  settings() {
    const out = {};
    for (const [key, f] of this.fields) {
      const v = f.read();
      if (v !== undefined) out[key] = v;
    }
    return out;
  }

  refreshTargets() {
    const t = this.targets();
    this.targetLine.textContent = t.error !== undefined ? t.error : `to: ${t.label}`;
    this.updateButtons();
  }

  /** Ask the server (the node's schema) about what is typed, a moment after the last keystroke. */
  check() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      const settings = this.settings();
      let errors;
      try {
        errors = (await postJSON("/api/config/check", { settings })).errors;
      } catch (error) {
        errors = [{ key: "", reason: error.message }];
      }
      for (const [key, f] of this.fields) {
        const mine = errors.filter((e) => e.key === key);
        f.error.textContent = mine.map((e) => `${key} ${e.reason}`).join("; ");
      }
      const general = errors.filter((e) => !this.fields.has(e.key));
      this.note.textContent = general.length > 0 ? general.map((e) => `${e.key} ${e.reason}`.trim()).join("; ") : this.signed ? "changes are signed on the server with the fleet key" : "changes are sent unsigned (no --fleet-key-file)";
      this.errors = errors.length;
      this.updateButtons();
    }, CHECK_DELAY_MS);
  }

  updateButtons() {
    const t = this.targets();
    const nothing = Object.keys(this.settings()).length === 0;
    this.send.disabled = t.error !== undefined || this.errors > 0 || nothing;
    this.ask.disabled = t.error !== undefined;
  }

  async submit(query) {
    const t = this.targets();
    if (t.error !== undefined) return;
    const settings = query ? {} : this.settings();
    this.send.disabled = true;
    try {
      const summary = await postJSON("/api/config", { settings, target: t.target });
      this.req = summary.req;
      this.show(summary);
    } catch (error) {
      this.status.hidden = false;
      this.status.textContent = `not sent: ${error.message}`;
    } finally {
      this.updateButtons();
    }
  }

  /** A change's progress, from the server (when it is this form's). */
  changed(summary) {
    if (summary.req === this.req) this.show(summary);
  }

  show(s) {
    this.status.hidden = false;
    this.status.replaceChildren();
    const head = document.createElement("div");
    head.dataset.req = s.req;
    const what = Object.keys(s.settings).length === 0 ? "config query" : Object.entries(s.settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
    head.textContent = `${s.req}: ${what} → ${s.target === "all" ? "every node" : `${count(s.target)} node${s.target === 1 ? "" : "s"}`}${s.signed ? ", signed" : ""}${s.messages > 1 ? ` (${s.messages} messages)` : ""}`;
    const tally = document.createElement("div");
    tally.className = "tally";
    const part = (text, cls) => {
      const span = document.createElement("span");
      span.textContent = text;
      if (cls) span.className = cls;
      tally.append(span, " ");
    };
    part(`applied ${count(s.applied)}`, "ack-applied");
    part(`rejected ${count(s.rejected)}`, s.rejected > 0 ? "ack-rejected" : "");
    if (s.target !== "all") part(s.timedOut && s.waiting > 0 ? `no answer ${count(s.waiting)}` : `waiting ${count(s.waiting)}`, s.timedOut && s.waiting > 0 ? "ack-rejected" : "muted");
    this.status.append(head, tally);
    for (const r of s.reasons) {
      const line = document.createElement("div");
      line.className = "ack-rejected";
      line.textContent = `${count(r.count)}: ${r.reason}`;
      const ids = document.createElement("div");
      ids.className = "ids";
      ids.textContent = r.ids.join(", ") + (r.count > r.ids.length ? ` and ${count(r.count - r.ids.length)} more` : "");
      this.status.append(line, ids);
    }
    if (s.timedOut && s.waiting > 0) {
      const ids = document.createElement("div");
      ids.className = "ids";
      ids.textContent = `no answer from ${s.waitingIds.join(", ")}${s.waiting > s.waitingIds.length ? ` and ${count(s.waiting - s.waitingIds.length)} more` : ""} (offline, or not on this broker)`;
      this.status.append(ids);
    }
  }
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}
