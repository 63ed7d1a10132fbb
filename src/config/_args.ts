/**
 * A small command-line flag reader for metallite's flags, in place of `node:util`'s `parseArgs` (importing any
 * `node:` module makes Deno load its Node compatibility layer, about 7 MB the daemon otherwise never needs). It
 * accepts the same syntax `parseArgs` accepted with `strict: true` and no positionals: `--flag value`,
 * `--flag=value`, boolean `--flag`, a one-letter alias `-f` (`-f value` or `-fvalue` for a string), repeatable flags
 * collected in order, the last value winning for a flag given twice that is not repeatable, and a final `--`.
 * @module
 */

/** How one flag is read. */
export interface FlagSpec {
  /** A string flag takes a value; a boolean flag takes none. */
  readonly type: "string" | "boolean";
  /** A string flag that may be given more than once; its values are collected in order. */
  readonly multiple?: boolean;
  /** A one-letter alias, given as `-x`. */
  readonly short?: string;
}

/** The values read for a set of flags: absent flags are undefined. */
export type FlagValues<T extends Readonly<Record<string, FlagSpec>>> = {
  -readonly [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean
    : T[K]["multiple"] extends true ? string[]
    : string;
};

/** The result of {@link readFlags}: the values, or one line saying what was wrong. */
export type ReadFlagsResult<T extends Readonly<Record<string, FlagSpec>>> =
  | { readonly ok: true; readonly values: FlagValues<T> }
  | { readonly ok: false; readonly error: string };

/**
 * Reads `args` against `specs`. Never throws: an unknown flag, a missing value, a value given to a boolean or an
 * argument that is not a flag gives `{ ok: false, error }` with one line naming it.
 *
 * @example
 * ```ts
 * readFlags(["--pool", "192.0.2.0/28", "-h"], { pool: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } });
 * // { ok: true, values: { pool: ["192.0.2.0/28"], help: true } }
 * ```
 */
export function readFlags<T extends Readonly<Record<string, FlagSpec>>>(
  args: readonly string[],
  specs: T,
): ReadFlagsResult<T> {
  const values: Record<string, string | string[] | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      if (!Object.hasOwn(specs, name)) return { ok: false, error: `Unknown option '--${name}'` };
    } else if (arg === "--") {
      // As parseArgs: "--" ends the flags, and anything after it is an argument this command does not take.
      if (i + 1 < args.length) return unexpected(args[i + 1]!);
      break;
    } else if (arg.length >= 2 && arg[0] === "-" && arg[1] !== "-") {
      const found = Object.keys(specs).find((key) => specs[key]!.short === arg[1]);
      if (found === undefined) return { ok: false, error: `Unknown option '${arg.slice(0, 2)}'` };
      name = found;
      // `-oVALUE`: a string alias may carry its value.
      if (arg.length > 2) {
        if (specs[found]!.type === "boolean") return { ok: false, error: `Option '${arg.slice(0, 2)}' takes no value` };
        inline = arg.slice(2);
      }
    } else {
      return unexpected(arg);
    }
    const spec = specs[name]!;
    const shown = arg.startsWith("--") ? `--${name}` : arg.slice(0, 2);
    if (spec.type === "boolean") {
      if (inline !== undefined) return { ok: false, error: `Option '${shown}' takes no value` };
      values[name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined) return { ok: false, error: `Option '${shown} <value>' needs a value` };
      // As parseArgs in strict mode: a value that looks like a flag is most likely a forgotten value.
      if (next.startsWith("-")) {
        return {
          ok: false,
          error:
            `Option '${shown} <value>' needs a value, not '${next}' (write ${shown}=${next} for a value starting ` +
            `with a dash)`,
        };
      }
      value = next;
      i++;
    }
    if (spec.multiple) {
      const list = values[name];
      if (Array.isArray(list)) list.push(value);
      else values[name] = [value];
    } else {
      values[name] = value;
    }
  }
  return { ok: true, values: values as FlagValues<T> };
}

function unexpected(arg: string): { readonly ok: false; readonly error: string } {
  return { ok: false, error: `Unexpected argument '${arg}': this command takes only flags` };
}
