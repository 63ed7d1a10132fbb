/**
 * metallite's entry point: parses the command line and runs the daemon or a one-shot command.
 * @module
 */
import { HELP_TEXT, parseCommandLine, UsageError } from "./src/config/flags.ts";
import { runDaemon, StartupError } from "./src/daemon/mod.ts";
import { createLogger } from "./src/log/mod.ts";
import { Shutdown } from "./src/ops/mod.ts";
import { runStatus, StatusError } from "./src/status/mod.ts";
import { VERSION } from "./src/version.ts";

const encoder = new TextEncoder();

function print(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text));
}

function fail(message: string, code: number): never {
  Deno.stderr.writeSync(encoder.encode(`metallite: ${message}\n`));
  Deno.exit(code);
}

/** Runs metallite with the given arguments and returns the process exit status. */
export async function main(args: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(args, { env: (name) => Deno.env.get(name), hostname: () => Deno.hostname() });
  } catch (error) {
    if (error instanceof UsageError) fail(error.message, 2);
    throw error;
  }
  switch (command.kind) {
    case "help":
      print(HELP_TEXT);
      return 0;
    case "version":
      print(`metallite ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target})\n`);
      return 0;
    case "status": {
      const log = createLogger({ level: "warn" });
      try {
        return await runStatus(command.options, { log, stdout: print, color: Deno.stdout.isTerminal() });
      } catch (error) {
        if (error instanceof StatusError) fail(error.message, 1);
        throw error;
      }
    }
    case "run": {
      const log = createLogger({ level: command.options.logLevel, format: command.options.logFormat });
      const shutdown = new Shutdown({ log });
      try {
        await runDaemon({ run: command.options, log, shutdown });
      } catch (error) {
        if (!(error instanceof StartupError)) throw error;
        await shutdown.start("start-up failed");
        fail(error.message, 1);
      } finally {
        shutdown.dispose();
      }
      return 0;
    }
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
