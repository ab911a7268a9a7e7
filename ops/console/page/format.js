// Formatting for people: times, ages, counts, a config in one line.

/** "3 s", "5 min", "2 h", "4 d" ago; "never" for -1 / 0. */
export function ago(ms) {
  if (!(ms > 0)) {
    return "never";
  }
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function clock(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 12345 -> "12,345". By hand: toLocaleString costs microseconds, and the table formats hundreds of numbers a frame. */
export function count(n) {
  const text = String(Math.round(n));
  if (text.length <= 3) return text;
  const sign = text[0] === "-" ? "-" : "";
  const digits = sign === "" ? text : text.slice(1);
  let out = "";
  for (let end = digits.length; end > 0; end -= 3) {
    out = digits.slice(Math.max(0, end - 3), end) + (out === "" ? "" : "," + out);
  }
  return sign + out;
}

/** A duration in ms, as the node's keys take it, for people: 1500 -> "1.5 s". */
export function duration(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${+(ms / 60000).toFixed(1)} min`;
  return `${+(ms / 3600000).toFixed(1)} h`;
}

const SHORT = { temperature: "temp", humidity: "hum", adc: "adc", vdd: "vdd" };

const lines = new Map();

/** An acked config (JSON text) in one line: the keys that matter most first. Remembered: a fleet runs few configs. */
export function configLine(text) {
  if (text === "") {
    return "";
  }
  let line = lines.get(text);
  if (line === undefined) {
    line = describeConfig(text);
    if (lines.size > 1000) lines.clear();
    lines.set(text, line);
  }
  return line;
}

function describeConfig(text) {
  let c;
  try {
    c = JSON.parse(text);
  } catch {
    return text;
  }
  const parts = [];
  if (typeof c.interval_ms === "number") parts.push(`every ${duration(c.interval_ms)}`);
  if (typeof c.sensitivity === "number" && c.sensitivity > 0) parts.push(`Δ${c.sensitivity}`);
  if (Array.isArray(c.sensors)) parts.push(c.sensors.map((s) => SHORT[s] ?? s).join("+"));
  if (typeof c.heartbeat_ms === "number") parts.push(`hb ${duration(c.heartbeat_ms)}`);
  if (typeof c.qos === "number") parts.push(`qos ${c.qos}`);
  if (typeof c.buffer_capacity === "number") parts.push(`buf ${c.buffer_capacity}`);
  return parts.join(" · ");
}
