/**
 * Debian's Chromium driven by playwright-core, for the console's tests and
 * benchmark. Never `npx playwright install` (it downloads a browser):
 * `npm test` installs the chromium package (scripts/test-all.mjs). Each
 * launch gets a fresh profile folder, removed at close.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors of the page (each one a failure of the page's code). */
  errors: string[];
  close(): Promise<void>;
}

export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium; npm test does it as root), or set CHROMIUM to one`);
  }
  const profile = mkdtempSync(join(tmpdir(), "espfleet-chromium-"));
  // A persistent context is how playwright takes a profile folder of our own (--user-data-dir).
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
