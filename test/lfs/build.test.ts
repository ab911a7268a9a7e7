/**
 * `npm run build:firmware` writes lfs.img: modules app and cfg, the same
 * functions as app.lc / cfg.lc, reproducibly, sized for --lfs-size.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseChunk, readLfsImage, stripChunk, writeLfsImage } from "../../firmware/lfs";
import { buildFirmware, lfsSizeFrom, parseLfsSize, type BuildResult } from "../../scripts/build-firmware";
import { WasmLua } from "../../common/wasm-lua";
import { flatten } from "./support";

describe("the LFS size option", () => {
  it("takes bytes or K", () => {
    expect(parseLfsSize("131072")).toBe(131072);
    expect(parseLfsSize("128K")).toBe(131072);
    expect(parseLfsSize("64k")).toBe(65536);
    expect(parseLfsSize(" 256 KB ")).toBe(262144);
  });

  it("refuses what is not a multiple of 4 KB", () => {
    for (const bad of ["", "0", "100", "12.5K", "1M", "-4K", "K"]) {
      expect(() => parseLfsSize(bad)).toThrow(/multiple of 4K/);
    }
  });

  it("comes from --lfs-size, else ESPFLEET_LFS_SIZE, else 128K", () => {
    expect(lfsSizeFrom([], {})).toBe(128 * 1024);
    expect(lfsSizeFrom([], { ESPFLEET_LFS_SIZE: "64K" })).toBe(65536);
    expect(lfsSizeFrom(["--lfs-size", "96K"], { ESPFLEET_LFS_SIZE: "64K" })).toBe(98304);
    expect(lfsSizeFrom(["--lfs-size=8192"], {})).toBe(8192);
    expect(() => lfsSizeFrom(["--lfs-size"], {})).toThrow(/needs a size/);
  });
});

describe("build:firmware's lfs.img", () => {
  let dist = "";
  let result: BuildResult;
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(join(dist, name)));

  beforeAll(() => {
    dist = mkdtempSync(join(tmpdir(), "lfs-build-"));
    result = buildFirmware(dist, { lfsBytes: 128 * 1024 });
  }, 120_000);
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  it("holds modules app and cfg, with the functions of app.lc and cfg.lc", () => {
    const image = readLfsImage(file("lfs.img"));
    expect(image.modules.map((m) => m.name)).toEqual(["app", "cfg"]);
    for (const m of image.modules) {
      const lc = parseChunk(stripChunk(file(`${m.name}.lc`), "nodemcu")).main;
      const strip = (f: ReturnType<typeof flatten>[number]): object => ({ ...f, source: undefined, lineInfo: [] });
      expect(flatten(m.main).map(strip)).toEqual(flatten(lc).map(strip));
      expect(m.main.source).toBe(`@${m.name}.lua`);
    }
  });

  it("reports its sizes", () => {
    const gz = file("lfs.img");
    const raw = gunzipSync(gz);
    expect(result.files["lfs.img"]).toBe(gz.length);
    expect(result.lfs).toEqual({ partitionBytes: 131072, imageBytes: raw.readUInt32LE(4), rawBytes: raw.length, gzBytes: gz.length });
    expect(result.lfs.gzBytes).toBeLessThan(result.lfs.imageBytes);
  });

  it("is reproducible: the same sources give the same file", () => {
    const lua = new WasmLua({ version: "5.1" });
    try {
      const again = writeLfsImage(
        ["app", "cfg"].map((name) => ({ name, chunk: lua.compile(readFileSync(join(dist, `${name}.lua`), "utf8"), `@${name}.lua`) })),
        // the build stamps SOURCE_DATE_EPOCH when set, else 0
        { maxBytes: 128 * 1024, timestamp: Number(process.env.SOURCE_DATE_EPOCH ?? "0") },
      );
      expect(Buffer.from(again).equals(Buffer.from(file("lfs.img")))).toBe(true);
    } finally {
      lua.close();
    }
  });
});
