/**
 * Named counters with a few examples each: how every soak process reports
 * what happened (expected refusals, errors, violations) without keeping a
 * line per event.
 */
export interface TallyEntry {
  count: number;
  examples: string[];
}

export type TallyReport = Record<string, TallyEntry>;

const EXAMPLES = 5;

export class Tally {
  private readonly entries = new Map<string, TallyEntry>();

  add(name: string, example?: string, by = 1): void {
    let e = this.entries.get(name);
    if (!e) this.entries.set(name, (e = { count: 0, examples: [] }));
    e.count += by;
    if (example !== undefined && e.examples.length < EXAMPLES) e.examples.push(example.slice(0, 300));
  }

  count(name: string): number {
    return this.entries.get(name)?.count ?? 0;
  }

  report(): TallyReport {
    return Object.fromEntries([...this.entries].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Adds another report's counts (and examples, up to the cap) to this one. */
  merge(r: TallyReport | undefined, prefix = ''): this {
    for (const [name, e] of Object.entries(r ?? {})) {
      this.add(prefix + name, undefined, e.count);
      const mine = this.entries.get(prefix + name)!;
      for (const x of e.examples) if (mine.examples.length < EXAMPLES) mine.examples.push(x);
    }
    return this;
  }
}

/** `403004 DeviceMaximumQueueDepthExceeded` or the error's code or name: a bounded label for an error. */
export function errorLabel(e: unknown): string {
  const x = e as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  if (typeof x?.code === 'number' && typeof x.name === 'string') return `${x.code} ${x.name}`;
  if (typeof x?.code === 'string') return x.code;
  if (typeof x?.name === 'string' && x.name !== 'Error') return x.name;
  return String(x?.message ?? e).slice(0, 80);
}

export function describeError(e: unknown): string {
  const x = e as { message?: unknown } | undefined;
  return `${errorLabel(e)}: ${String(x?.message ?? e)}`;
}
