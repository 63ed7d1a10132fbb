/**
 * Go's time.ParseDuration, which metav1.Duration uses for BGPPeer timers ("90s", "9m0s", "1h30m", "1.5s").
 * @module
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC). Escaped: one non-ASCII character would make V8
  // keep the whole bundle's source as a two-byte string (see scripts/runtime.ts).
  "\u00b5s": 1e-6,
  "\u03bcs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/** Parses a Go duration into seconds; undefined when the text is not one. Negative durations are refused. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (text === "" || text.length > 64) return undefined;
  let seconds = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== start) return undefined;
    seconds += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  }
  return Number.isFinite(seconds) ? seconds : undefined;
}
