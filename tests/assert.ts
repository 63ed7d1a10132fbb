/**
 * Small assertion helpers over `node:assert` (JSR's std/assert is not reachable from our machines), named as
 * Deno's standard library names them so tests read familiarly.
 * @module
 */
import nodeAssert from "node:assert";

/** Asserts deep, strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts deep inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Asserts a value is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Asserts text matches a pattern. */
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(actual, pattern, message);
}

/** Asserts text contains a fragment. */
export function assertStringIncludes(actual: string, fragment: string, message?: string): void {
  nodeAssert.ok(actual.includes(fragment), message ?? `Expected ${JSON.stringify(actual)} to include "${fragment}"`);
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function checkError(error: unknown, errorClass?: ErrorClass, includes?: string): Error {
  nodeAssert.ok(error instanceof Error, `Expected an Error to be thrown, got ${String(error)}`);
  if (errorClass) {
    nodeAssert.ok(
      error instanceof errorClass,
      `Expected ${errorClass.name}, got ${error.constructor.name}: ${error.message}`,
    );
  }
  if (includes !== undefined) {
    nodeAssert.ok(error.message.includes(includes), `Expected message to include "${includes}": ${error.message}`);
  }
  return error;
}

/** Asserts that a function throws, optionally of a class and with a message fragment; returns the error. */
export function assertThrows(fn: () => unknown, errorClass?: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected the function to throw" });
}

/** Asserts that a promise-returning function rejects, optionally of a class and with a message fragment. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  errorClass?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected the promise to reject" });
}

/** Waits until a condition holds, polling every `intervalMs`, or throws after `timeoutMs` naming what it waited for. */
export async function waitFor<T>(
  what: string,
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
  const cause = lastError instanceof Error ? `: last error ${lastError.message}` : "";
  throw new Error(`Timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${what}${cause}`);
}

/**
 * Waits until a 1-ms interval timer has run five times (within 2 s): proof that the event loop keeps turning while
 * something else waits, such as a poll on a worker thread. `what` names that wait in the timeout message.
 */
export async function waitForTimerTicks(what: string): Promise<void> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await waitFor(`timers to run while ${what}`, () => ticks >= 5, { timeoutMs: 2000 });
  } finally {
    clearInterval(timer);
  }
}
