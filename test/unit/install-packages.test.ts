/**
 * The first `npm start` / `npm test` on a fresh clone (issue 12, item 9):
 * scripts/lib/install-packages.mjs runs `npm ci` and says so, once, with a
 * progress line (packages unpacked out of the lockfile's, seconds so far),
 * passing on every line npm prints: a failure shows npm's own error. A fake
 * `npm` stands in for the real one (a real `npm ci` takes a minute and the
 * network; it was run by hand in a clone, see the report).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error -- plain JavaScript without declarations (it runs before any package is installed)
import { expectedPackages, installPackages } from "../../scripts/lib/install-packages.mjs";

type Install = (o: { root: string; who: string; npm: string; out: NodeJS.WriteStream }) => Promise<boolean>;

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A project folder whose lockfile has two packages for this machine and one for another platform. */
function project(): string {
  const root = mkdtempSync(join(tmpdir(), "espfleet-install-"));
  dirs.push(root);
  const other = process.platform === "darwin" ? "linux" : "darwin";
  const lock = {
    lockfileVersion: 3,
    packages: {
      "": { name: "x" },
      "node_modules/a": { version: "1.0.0" },
      "node_modules/b": { version: "1.0.0", hasInstallScript: true },
      "node_modules/@esbuild/other": { version: "1.0.0", optional: true, os: [other] },
    },
  };
  writeFileSync(join(root, "package-lock.json"), JSON.stringify(lock));
  return root;
}

/** A fake npm: unpacks a, then b, a second apart, saying what a real one says; `code` is its exit status. */
function fakeNpm(root: string, code: number): string {
  const npm = join(root, "fake-npm");
  writeFileSync(
    npm,
    `#!/bin/sh
test "$1" = ci || exit 9
mkdir -p node_modules/a && echo '{}' > node_modules/a/package.json
echo "npm warn deprecated a@1.0.0: use c" >&2
sleep 1.2
mkdir -p node_modules/b && echo '{}' > node_modules/b/package.json
${code === 0 ? 'echo "added 2 packages in 1s"' : 'echo "npm error code ECONNRESET" >&2'}
exit ${code}
`,
  );
  chmodSync(npm, 0o755);
  return npm;
}

function terminal(): { out: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const out = { isTTY: true, columns: 120, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { out, text: () => text };
}

describe("installing the npm packages on a first run", () => {
  it("counts the packages this machine installs from the lockfile", () => {
    expect(expectedPackages(project())).toEqual(["node_modules/a", "node_modules/b"]);
  });

  it("says it installs, once, shows progress and the time, and passes npm's lines on", async () => {
    const root = project();
    const { out, text } = terminal();
    const ok = await (installPackages as Install)({ root, who: "start", npm: fakeNpm(root, 0), out });
    expect(ok).toBe(true);
    const shown = text();
    expect(shown).toContain("start: first run: installing the npm packages (npm ci: 2 packages, about a minute; later runs skip this)…\n");
    expect(shown).toMatch(/npm ci: 1\/2 packages unpacked, \d+ s/);
    expect(shown).toContain("npm warn deprecated a@1.0.0: use c\n");
    expect(shown).toContain("added 2 packages in 1s\n");
    expect(shown).toMatch(/start: npm packages installed in \d+ s\n$/);
  });

  it("fails with npm's own error shown", async () => {
    const root = project();
    const { out, text } = terminal();
    const ok = await (installPackages as Install)({ root, who: "test", npm: fakeNpm(root, 1), out });
    expect(ok).toBe(false);
    expect(text()).toContain("npm error code ECONNRESET\n");
    expect(text()).toMatch(/test: npm ci failed \(exit code 1\) after \d+ s; npm's own messages are above\n$/);
  });

  it("says so when there is no npm", async () => {
    const root = project();
    const { out, text } = terminal();
    expect(await (installPackages as Install)({ root, who: "start", npm: join(root, "no-such-npm"), out })).toBe(false);
    expect(text()).toContain("is not on the PATH");
  });
});
