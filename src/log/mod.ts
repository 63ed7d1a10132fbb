/**
 * Structured logging in JSON or text, with levels, that redacts secrets and logs a repeated complaint only once.
 * @module
 */

/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Output formats. */
export type LogFormat = "json" | "text";
/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written; default "info". */
  level?: LogLevel;
  /** "json" (one object per line) or "text" (key=value); default "text". */
  format?: LogFormat;
  /** Where lines go; default standard error. */
  write?: (line: string) => void;
  /** Clock for timestamps; default `Date.now`. */
  now?: () => number;
}

/** A logger with fields bound by {@link Logger.with}. */
export interface Logger {
  /** Writes a debug line. */
  debug(message: string, fields?: LogFields): void;
  /** Writes an info line. */
  info(message: string, fields?: LogFields): void;
  /** Writes a warning line. */
  warn(message: string, fields?: LogFields): void;
  /** Writes an error line. */
  error(message: string, fields?: LogFields): void;
  /** Writes a warning only the first time `key` is seen, so a flood of bad input logs once. */
  warnOnce(key: string, message: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
}

// Field names whose values are never printed, whatever the caller passes.
const SECRET_FIELD = /pass(word)?|secret|token|authorization|key$|cert/i;
const REDACTED = "<redacted>";

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out[k] = SECRET_FIELD.test(k) ? REDACTED : v instanceof Error ? v.message : v;
  }
  return out;
}

function textValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? "") ? JSON.stringify(s) : String(s);
}

const encoder = new TextEncoder();

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "debug", format: "json" });
 * log.with({ part: "arp" }).info("answering", { ip: "192.0.2.10" });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const write = options.write ?? ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const now = options.now ?? Date.now;
  const seen = new Set<string>();

  function make(bound: LogFields): Logger {
    function emit(level: LogLevel, message: string, fields: LogFields = {}): void {
      if (LOG_LEVELS.indexOf(level) < min) return;
      const all = redact({ ...bound, ...fields });
      const time = new Date(now()).toISOString();
      if (format === "json") {
        write(JSON.stringify({ time, level, msg: message, ...all }));
      } else {
        const extra = Object.entries(all).map(([k, v]) => `${k}=${textValue(v)}`).join(" ");
        write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra ? " " + extra : ""}`);
      }
    }
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      warnOnce(key, m, f) {
        if (seen.has(key)) return;
        // Bound the memory a hostile flood of distinct keys could take.
        if (seen.size > 10_000) seen.clear();
        seen.add(key);
        emit("warn", m, f);
      },
      with: (fields) => make({ ...bound, ...fields }),
    };
  }
  return make({});
}

/** A logger that discards everything, for tests and library defaults. */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
