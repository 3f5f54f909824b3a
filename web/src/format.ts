// How numbers and times read on the page.
export const fmtTime = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString(undefined, { hour12: false }) : "—");

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export const fmtPercent = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(digits)} %`);

export const shortId = (id: string) => id.slice(0, 8);

export const json = (v: unknown) => JSON.stringify(v, null, 2) ?? "undefined";
