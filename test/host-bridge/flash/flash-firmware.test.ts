/**
 * ./flash.sh --firmware: the image goes to the ROM flasher (host-bridge/flasher)
 * before the upload. A virtual board has no ROM bootloader (and a pty no
 * DTR/RTS), so this checks the step runs, shows its progress line, and that
 * its failure ends the command with the flasher's advice, before any upload.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVirtualBoard, type VirtualBoard } from "../../../host-bridge/flash/virtual-board";
import { removeDir, tempDir } from "../../device/support/harness";
import { envWith, flashSh } from "./support/cli-run";

let board: VirtualBoard;
let work: string;

beforeAll(async () => {
  board = await startVirtualBoard({ heapKb: 96, embeddedBroker: false, log: () => undefined });
  work = tempDir("flash-firmware");
  // --no-build: a stand-in build; the run must stop before uploading any of it.
  for (const name of ["init.lua", "app.lc", "cfg.lc"]) {
    writeFileSync(join(work, name), `-- ${name}\n`);
  }
  writeFileSync(join(work, "config.json"), "{}\n");
  writeFileSync(join(work, "modules.txt"), "file\nnode\n");
  writeFileSync(join(work, "nodemcu.bin"), Buffer.alloc(8192, 0xe9));
  writeFileSync(join(work, "none.env"), "# settings come from the environment\n");
});

afterAll(async () => {
  await board?.stop();
  removeDir(work);
});

describe("./flash.sh --firmware", () => {
  it("runs the ROM flasher first and stops with its advice when no bootloader answers", async () => {
    const env = envWith({ WIFI_SSID: "home", WIFI_PASSWORD: "wifi-pw-12345", MQTT_URL: "mqtt://127.0.0.1:1883" });
    const args = ["--port", board.portPath, "--no-build", "--build-dir", work, "--settings-file", join(work, "none.env"), "--firmware", join(work, "nodemcu.bin")];
    const run = flashSh(args, env);
    const code = await run.exited;
    const output = run.output();
    expect(code).toBe(1);
    expect(output).toMatch(/writing .*nodemcu\.bin \(8192 B\) at 0x0 through the ROM bootloader/);
    expect(output).toMatch(/no answer from the ROM bootloader .*hold FLASH \(GPIO0\)/s);
    expect(output).not.toContain("uploading");
    expect(output).not.toContain("wifi-pw-12345");
  }, 60_000);
});
