/**
 * Issue 12, item 8: the live summary's msg/s at a 2 s interval. Ten nodes
 * publish together every 2 s and the view redraws every second: over the
 * last second it read 10.0, 0.0, 10.0, …; over the sliding 10 s window (as
 * `watch` measures) it reads the true 5.0 at every redraw.
 */
import { describe, expect, it } from "vitest";
import { emptySnapshot } from "../../simulator/fleet-counters";
import { LiveView } from "../../simulator/live-view";

/** A terminal that keeps what is written (the view redraws with \r on a TTY). */
function terminal(): { stream: NodeJS.WriteStream; rates: () => number[] } {
  const written: string[] = [];
  const stream = { isTTY: true, columns: 200, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream;
  const rates = (): number[] =>
    written.flatMap((text) => {
      const m = / ([\d.]+) msg\/s /.exec(text);
      return m !== null ? [Number(m[1])] : [];
    });
  return { stream, rates };
}

describe("the live summary's msg/s", () => {
  it("reads the true rate at every redraw when 10 nodes publish together every 2 s", () => {
    let now = 0;
    const { stream, rates } = terminal();
    const view = new LiveView(stream, true, () => now);
    const s = { ...emptySnapshot(10), started: 10, connected: 10 };
    // 30 s: a burst of 10 readings at every even second, a redraw at every second + 0.5.
    for (let second = 0; second < 30; second++) {
      if (second % 2 === 0) {
        s.published += 10;
      }
      now = second * 1000 + 500;
      view.update(s);
    }
    const shown = rates();
    expect(shown).toHaveLength(30);
    // From the third redraw on (two bursts seen), every redraw says 5.0: no flipping between 0.0 and 10.0.
    expect(new Set(shown.slice(2).map((r) => r.toFixed(1)))).toEqual(new Set(["5.0"]));
  });

  it("decays to 0.0 once the fleet stops publishing", () => {
    let now = 0;
    const { stream, rates } = terminal();
    const view = new LiveView(stream, true, () => now);
    const s = { ...emptySnapshot(5), started: 5, connected: 5 };
    for (let second = 0; second < 10; second++) {
      s.published += 5;
      now = second * 1000;
      view.update(s);
    }
    expect(rates().at(-1)).toBeCloseTo(5, 5);
    // Silent from here on: the rate falls, and is 0.0 after the window.
    for (let second = 10; second < 25; second++) {
      now = second * 1000;
      view.update(s);
    }
    const after = rates().slice(10);
    expect(after.every((r, i) => i === 0 || r <= (after[i - 1] as number))).toBe(true);
    expect(after.at(-1)).toBe(0);
  });
});
