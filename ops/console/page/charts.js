// One uPlot chart per sensor: the average as a line and, where a point
// stands for many readings (downsampled history), their minimum and maximum
// as a band; the node's events and acks as vertical marks on the same time
// axis. Dragging across a chart asks for that range (onZoom).

const COLOURS = { temperature: "#d1495b", humidity: "#1f6feb", vdd: "#2f9e44", adc: "#7048e8" };
const MARKS = { applied: "#1a7f37", rejected: "#cf222e", event: "#bf8700", status: "#8c959f" };

/** The colour of an event or ack's mark. */
export function markColour(m) {
  if (m.kind === "ack") return m.code === "rejected" ? MARKS.rejected : MARKS.applied;
  return typeof m.code === "string" && m.code.startsWith("status") ? MARKS.status : MARKS.event;
}

/** uPlot's axis and legend dates, in 24-hour time and year-month-day. */
function twentyFourHours(template) {
  return template
    .replace("{h}{aa}", "{HH}:00")
    .replace(/\{h\}/g, "{HH}")
    .replace(/\{aa\}/g, "")
    .replace("{M}/{D}/{YY}", "{YYYY}-{MM}-{DD}")
    .replace("{M}/{D}", "{MM}-{DD}");
}

export function makeChart(el, sensor, unit, width, onZoom) {
  const colour = COLOURS[sensor] ?? "#444";
  let marks = [];
  // The x range is the one asked for, not the data's: a sparse history still shows its whole range.
  const range = { from: 0, to: 1 };
  const drawMarks = (u) => {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    for (const m of marks) {
      const x = u.valToPos(m.timeMs, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = markColour(m);
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, top);
      ctx.lineTo(Math.round(x) + 0.5, top + height);
      ctx.stroke();
    }
    ctx.restore();
  };
  const chart = new window.uPlot(
    {
      width,
      height: 170,
      ms: 1,
      fmtDate: (template) => window.uPlot.fmtDate(twentyFourHours(template)),
      title: `${sensor}${unit ? ` (${unit})` : ""}`,
      scales: { x: { time: true, range: () => [range.from, range.to] } },
      series: [
        {},
        { label: "average", stroke: colour, width: 1.5, spanGaps: false, points: { show: false } },
        { label: "min", stroke: colour + "55", width: 0.5, points: { show: false } },
        { label: "max", stroke: colour + "55", width: 0.5, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: colour + "22" }],
      cursor: { sync: { key: "espfleet-node" }, drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: {
        draw: [drawMarks],
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            onZoom(Math.floor(min), Math.ceil(max));
          },
        ],
      },
    },
    [[], [], [], []],
    el,
  );
  return {
    sensor,
    /** Columns [t, avg, min, max] and the x range to show. */
    set(data, fromMs, toMs, newMarks) {
      marks = newMarks;
      range.from = fromMs;
      range.to = toMs;
      chart.setData(data);
    },
    resize(w) {
      chart.setSize({ width: w, height: 170 });
    },
    destroy() {
      chart.destroy();
    },
  };
}
