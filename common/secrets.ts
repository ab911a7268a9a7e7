/**
 * The one secret masker of every log path (fleet log, connect errors, flash
 * output, database URLs): passwords, fleet keys and the like become `***`.
 *
 * Stricter than a plain replace: each secret is hidden as typed, as it
 * appears inside JSON (config.json, logs of it) and percent-encoded (inside
 * a URL); longer secrets first, so one that contains another is hidden
 * whole; a secret of a few characters only where it stands alone, since it
 * would also match inside ordinary words ("b" in "broker").
 */

export const MASK = "***";

/** Secrets shorter than this are hidden only where they stand alone. */
const SHORT_SECRET = 4;

export class SecretMasker {
  private forms: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    this.add(...secrets);
  }

  /** Hide these too from now on (secrets become known as settings are read). */
  add(...secrets: readonly string[]): void {
    const forms = secrets.filter((s) => s !== "").flatMap((s) => [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)]);
    this.forms = [...new Set([...this.forms, ...forms])].sort((a, b) => b.length - a.length);
  }

  /** `text` with every known secret replaced by ***. Bound, so it can be passed as a function. */
  readonly mask = (text: string): string => {
    let out = text;
    for (const secret of this.forms) {
      if (!out.includes(secret)) {
        continue;
      }
      if (secret.length >= SHORT_SECRET) {
        out = out.split(secret).join(MASK);
      } else {
        const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        out = out.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, "g"), MASK);
      }
    }
    return out;
  };
}

/** `text` with these secrets masked (see SecretMasker); empty secrets are ignored. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  return new SecretMasker(secrets).mask(text);
}

/** A broker or database URL as typed, with any password in it masked (mqtt://user:***@host). */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, `$1${MASK}@`);
}
