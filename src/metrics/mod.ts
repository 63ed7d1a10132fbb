/**
 * A small Prometheus metrics registry: counters and gauges with labels, rendered in the text exposition format
 * (version 0.0.4). Every part takes a {@link Registry} in its options so tests can read what it counted.
 * @module
 */

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** Options for a metric. */
export interface MetricOptions {
  /** Metric name, e.g. `metallite_arp_requests_total`. */
  name: string;
  /** One line of help text. */
  help: string;
  /** Label names every series of this metric carries; default none. */
  labelNames?: readonly string[];
  /**
   * Most series kept. A label value taken from the outside (a peer's MAC, say) must not grow memory without bound,
   * so past this many series, new label sets are folded into one extra series with every label "other". Default 1000.
   */
  maxSeries?: number;
}

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #maxSeries: number;
  protected readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(options: MetricOptions) {
    if (!NAME_PATTERN.test(options.name)) throw new TypeError(`Invalid metric name "${options.name}"`);
    for (const label of options.labelNames ?? []) {
      if (!LABEL_PATTERN.test(label)) throw new TypeError(`Invalid label name "${label}" on ${options.name}`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.#maxSeries = options.maxSeries ?? 1000;
  }

  abstract readonly type: "counter" | "gauge";

  protected entry(labels: Labels = {}): { labels: Labels; value: number } {
    const values = this.labelNames.map((n) => labels[n] ?? "");
    let key = values.join("\u0000");
    let found = this.series.get(key);
    if (found) return found;
    let kept: Labels = Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!]));
    if (this.series.size >= this.#maxSeries) {
      kept = Object.fromEntries(this.labelNames.map((n) => [n, "other"]));
      key = this.labelNames.map(() => "other").join("\u0000");
      found = this.series.get(key);
      if (found) return found;
    }
    const created = { labels: kept, value: 0 };
    this.series.set(key, created);
    return created;
  }

  /** Current value of one series (0 when it was never touched). */
  get(labels: Labels = {}): number {
    const key = this.labelNames.map((n) => labels[n] ?? "").join("\u0000");
    return this.series.get(key)?.value ?? 0;
  }

  /** Drops one series, e.g. when the pool or peer it describes is gone. */
  remove(labels: Labels = {}): void {
    this.series.delete(this.labelNames.map((n) => labels[n] ?? "").join("\u0000"));
  }

  /** Renders this metric in the text exposition format. */
  render(): string {
    const lines = [
      `# HELP ${this.name} ${this.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    if (this.series.size === 0 && this.labelNames.length === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.series.values()) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
      lines.push(`${this.name}${pairs.length ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}`);
    }
    return lines.join("\n");
  }
}

/** A value that only goes up (resets with the process). */
export class Counter extends Metric {
  readonly type = "counter" as const;

  /** Adds `amount` (default 1, never negative) to the series with these labels. */
  inc(labels?: Labels, amount = 1): void {
    if (!(amount >= 0)) throw new RangeError(`Counter ${this.name} cannot be increased by ${amount}`);
    this.entry(labels).value += amount;
  }
}

/** A value that goes up and down. */
export class Gauge extends Metric {
  readonly type = "gauge" as const;

  /** Sets the series with these labels. */
  set(labels: Labels | undefined, value: number): void {
    this.entry(labels).value = value;
  }

  /** Adds `amount` (default 1). */
  inc(labels?: Labels, amount = 1): void {
    this.entry(labels).value += amount;
  }

  /** Subtracts `amount` (default 1). */
  dec(labels?: Labels, amount = 1): void {
    this.entry(labels).value -= amount;
  }

  /** Removes every series, for gauges recomputed from scratch on each reconcile. */
  reset(): void {
    this.series.clear();
  }
}

/**
 * Holds metrics by name; asking twice for the same name returns the same metric, so parts can register lazily.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const answered = registry.counter("metallite_arp_replies_total", "ARP replies sent", ["interface"]);
 * answered.inc({ interface: "eth0" });
 * registry.render(); // text for a /metrics endpoint
 * ```
 */
export class Registry {
  readonly #metrics = new Map<string, Counter | Gauge>();

  #register<M extends Counter | Gauge>(metric: M): M {
    const existing = this.#metrics.get(metric.name);
    if (existing) {
      const same = existing.type === metric.type && existing.labelNames.join() === metric.labelNames.join();
      if (!same) throw new TypeError(`Metric ${metric.name} is already registered with another type or labels`);
      return existing as M;
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Returns the counter with this name, creating it on first use. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#register(new Counter({ name, help, labelNames }));
  }

  /** Returns the gauge with this name, creating it on first use. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#register(new Gauge({ name, help, labelNames }));
  }

  /** The metric with this name, if registered. */
  find(name: string): Counter | Gauge | undefined {
    return this.#metrics.get(name);
  }

  /** Renders every metric, sorted by name, in the Prometheus text format. */
  render(): string {
    const names = [...this.#metrics.keys()].sort();
    return names.map((n) => this.#metrics.get(n)!.render()).join("\n") + "\n";
  }
}
