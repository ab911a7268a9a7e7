import { describe, expect, it } from "vitest";
import { FleetLog } from "../../simulator/fleet-log";

describe("fleet log (simulator/fleet-log.ts)", () => {
  it("prints the first line of each kind and counts repeats from other nodes", () => {
    const lines: string[] = [];
    const log = new FleetLog({ level: "warn", verbose: false, print: (l) => lines.push(l) });
    for (let i = 1; i <= 100; i++) {
      log.write(`node-${String(i).padStart(4, "0")}`, "warn", `mqtt connect to 127.0.0.1 failed: connect ECONNREFUSED 127.0.0.1:${1000 + i}`);
    }
    log.write("node-0001", "info", "mqtt connected to 127.0.0.1");
    log.write("node-0002", "error", "disk full");
    expect(lines).toEqual(["node-0001 warn: mqtt connect to 127.0.0.1 failed: connect ECONNREFUSED 127.0.0.1:1001", "node-0002 error: disk full"]);
    log.summarise();
    expect(lines[2]).toMatch(/… and 99 more like "mqtt connect to 127\.0\.0\.1 failed/);
  });

  it("prints everything when verbose", () => {
    const lines: string[] = [];
    const log = new FleetLog({ level: "info", verbose: true, print: (l) => lines.push(l) });
    log.write("a", "info", "x");
    log.write("b", "info", "x");
    expect(lines).toEqual(["a info: x", "b info: x"]);
  });
});
