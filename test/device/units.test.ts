/** The virtual device's pure parts: the mailbox format, the UART line discipline, host file names. */
import { describe, expect, it } from "vitest";
import { hostName, spiffsName } from "../../device/fs-dir";
import { encodeField, fieldBytes, fieldText, parseEntryResult } from "../../device/mailbox";
import { parseHeapKb, parseModules } from "../../device/options";
import { MAX_LINE, SerialLine, uartText } from "../../device/serial-line";

describe("mailbox", () => {
  it("sends ASCII as text and anything else as hex", () => {
    expect(encodeField("abc 1\t\n")).toBe("tabc 1\t\n");
    expect(encodeField(42)).toBe("t42");
    expect(encodeField("é")).toBe("hc3a9");
    expect(encodeField(Buffer.from([0, 255]))).toBe("h00ff");
    expect(encodeField(Buffer.from("a\x01b"))).toBe("h610162");
  });

  it("parses status, heap, next timer and the records", () => {
    const r = parseEntryResult(["ok", "1234", "500", "out\x01thello\n", "fs_put\x01tx\x01t0\x01t2\x01h00ff", ""].join("\x02"));
    expect(r).toMatchObject({ status: "ok", usedBytes: 1234, nextDueMs: 500 });
    expect(r.requests.map((q) => q.kind)).toEqual(["out", "fs_put"]);
    expect(fieldText(r.requests[0]?.fields[0])).toBe("hello\n");
    expect([...fieldBytes(r.requests[1]?.fields[3])]).toEqual([0, 255]);
    expect(() => parseEntryResult("weird")).toThrow(/malformed/);
  });
});

describe("UART line discipline", () => {
  const run = (input: string): { tx: string; lines: string[]; empties: number } => {
    let tx = "";
    const lines: string[] = [];
    let empties = 0;
    const s = new SerialLine({
      tx: (b) => (tx += b.toString("latin1")),
      line: (b) => {
        lines.push(b.toString("latin1"));
        queueMicrotask(() => s.resume());
      },
      emptyLine: () => empties++,
      raw: () => {},
    });
    s.feed(Buffer.from(input, "latin1"));
    return { tx, lines, empties };
  };

  it("turns \\n into \\r\\n and drops bare \\r on output", () => {
    expect(uartText("a\nb\r\n").toString()).toBe("a\r\nb\r\n");
  });

  it("ends lines at CR, LF, CR LF or LF CR; an empty line re-prompts", () => {
    const r = run("ab\r");
    expect(r).toEqual({ tx: "ab\r\n", lines: ["ab"], empties: 0 });
    expect(run("x\r\n").lines).toEqual(["x"]);
    expect(run("x\n\r").lines).toEqual(["x"]);
    expect(run("\r").empties).toBe(1);
  });

  it("keeps the first 256 characters of a line", () => {
    const r = run("y".repeat(MAX_LINE + 40) + "\r");
    expect(MAX_LINE).toBe(256);
    expect(r.lines[0]).toBe("y".repeat(256));
    expect(r.tx.length).toBe(MAX_LINE + 40 + 2);
  });

  it("does not read the next line before the last one has run", () => {
    const lines: string[] = [];
    let tx = "";
    const s = new SerialLine({ tx: (b) => (tx += b.toString()), line: (b) => lines.push(b.toString()), emptyLine: () => {}, raw: () => {} });
    s.feed(Buffer.from("one\rtwo\r"));
    expect(lines).toEqual(["one"]);
    expect(tx).toBe("one\r\n");
    s.resume();
    expect(lines).toEqual(["one", "two"]);
  });
});

describe("host names of SPIFFS files", () => {
  it("round-trips names and never leaves the folder", () => {
    for (const name of ["init.lua", "a/b.lua", "../etc/passwd", "/abs", "x:y*z", "100%", "..", "."]) {
      const host = hostName(name);
      expect(host.split(/[\\/]/)).not.toContain("..");
      expect(host.startsWith("/")).toBe(false);
      expect(spiffsName(host)).toBe(name);
    }
  });
});

describe("options", () => {
  it("rejects modules it does not emulate and nonsense heap sizes, saying what would work", () => {
    expect(parseModules("node, file,tmr")).toEqual(["node", "file", "tmr"]);
    expect(() => parseModules("node,net")).toThrow(/net is not emulated; choose from/);
    expect(parseHeapKb("44")).toBe(44);
    expect(() => parseHeapKb("-1")).toThrow(/give the Lua heap budget in KB/);
  });
});
