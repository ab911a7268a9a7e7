/** Units and plain-text tables for the bench's report. */

export const KB = 1024;
export const kb = (bytes: number): string => (bytes / KB).toFixed(1);
export const num = (n: number): string => n.toLocaleString("en-US");

/** Rows in columns two spaces apart, each column aligned left ("l") or right ("r"). */
export function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = align.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) => r.map((cell, i) => (align[i] === "r" ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number))).join("  ").trimEnd())
    .join("\n");
}

/** Every line of `text` indented by `n` spaces. */
export function indent(text: string, n: number): string {
  return text
    .split("\n")
    .map((l) => " ".repeat(n) + l)
    .join("\n");
}
