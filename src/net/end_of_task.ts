/**
 * One run at the end of the current task, however often it is asked for. The ARP and NDP responders bring their
 * kernel filters (and groups, and the fast path's map) in line with the owned VIPs this way after an announce: a
 * reconcile announcing 500 VIPs rebuilds them once, not 500 times (each rebuild is linear in the owned VIPs), while
 * a withdrawal runs at once so that it narrows before it returns.
 * @module
 */

/** See {@link endOfTaskRunner}. */
export interface EndOfTaskRunner {
  /** Runs once at the end of the current task (a microtask), unless `now()` ran meanwhile. */
  request(): void;
  /** Runs at once; a pending request is then done. */
  now(): void;
}

/**
 * Wraps `run`; `skip` (e.g. "closed") is checked before a deferred run.
 *
 * @example
 * ```ts
 * const filters = endOfTaskRunner(() => applyFilters(), { skip: () => closed });
 * filters.request(); // after each announce
 * filters.now(); // on withdrawal
 * ```
 */
export function endOfTaskRunner(run: () => void, options: { skip?: () => boolean } = {}): EndOfTaskRunner {
  let due = false;
  return {
    request() {
      if (due) return;
      due = true;
      queueMicrotask(() => {
        if (!due) return;
        due = false;
        if (!options.skip?.()) run();
      });
    },
    now() {
      due = false;
      run();
    },
  };
}
