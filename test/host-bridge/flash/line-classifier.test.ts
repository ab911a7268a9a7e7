import { describe, expect, it } from "vitest";
import { classifyLine, markLine } from "../../../host-bridge/monitor/line-classifier";
import { LineSplitter } from "../../../host-bridge/monitor/line-splitter";

describe("console line classification", () => {
  it.each([
    "Lua error: stdin:1: attempt to call global 'foo' (a nil value)",
    "PANIC: unprotected error in call to Lua API (not enough memory)",
    "stdin:1: '=' expected near 'x'",
    "app.lua:120: attempt to index a nil value",
    "  init.lua:12: in main chunk",
    '[string "print(1"]:1: unexpected symbol near <eof>',
  ])("marks %j as an error", (line) => {
    expect(classifyLine(line)).toBe("error");
  });

  it.each(["NodeMCU 3.0.0.0 built with Docker provided by frightanic.com", "> ", "node node-1 boot 3, sampling every 10000 ms", "upload.lua ok", "stdin is closed", "PANICKED is not a word NodeMCU prints"])(
    "leaves %j alone",
    (line) => {
      expect(classifyLine(line)).toBe("normal");
    },
  );

  it("prefixes errors with !! (red on a terminal) and nothing else", () => {
    expect(markLine("Lua error: x", false)).toBe("!! Lua error: x");
    expect(markLine("Lua error: x", true)).toBe("\x1b[31m!! Lua error: x\x1b[0m");
    expect(markLine("hello", true)).toBe("hello");
  });
});

describe("line splitting of the serial stream", () => {
  it("splits on CRLF, LF and CR across chunks and hands out a waiting prompt", async () => {
    const lines: string[] = [];
    const partials: string[] = [];
    const splitter = new LineSplitter({ line: (l) => lines.push(l), partial: (p) => partials.push(p) }, 20);
    splitter.push("one\r");
    splitter.push("\ntwo\nthr");
    splitter.push(Buffer.from("ee\rfour\r\n> "));
    expect(lines).toEqual(["one", "two", "three", "four"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(partials).toEqual(["> "]);
    splitter.flush();
    expect(partials).toEqual(["> "]);
  });
});
