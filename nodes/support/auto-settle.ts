/**
 * "Complete after the flow's done", made concrete: a received message is
 * completed once every node wired to c2d-receive's output has called done()
 * for it (Node-RED's onComplete hook), and abandoned if one of them failed
 * (done(err)), so the hub delivers it again (at-least-once). A node that
 * never calls done leaves the message locked until the hub's lock timeout,
 * after which it is delivered again; the entry here is dropped then too.
 */
import type { CompleteEvent, Hooks } from './red';

interface Pending {
  waiting: Set<string>;
  failed: boolean;
  lockedUntilUtc: number;
  settle: (outcome: 'complete' | 'abandon') => void;
}

export class AutoSettler {
  private readonly pending = new Map<string, Pending>();
  private readonly hookName: string;

  constructor(
    private readonly hooks: Hooks,
    nodeId: string,
  ) {
    this.hookName = `onComplete.c2dReceive_${nodeId.replace(/[^A-Za-z0-9]/g, '_')}`;
    hooks.add(this.hookName, (e) => this.onComplete(e));
  }

  /** Waits for `downstream` node ids to finish with message `msgid`. */
  track(msgid: string, downstream: readonly string[], lockedUntilUtc: number, settle: Pending['settle']): void {
    this.prune();
    this.pending.set(msgid, { waiting: new Set(downstream), failed: false, lockedUntilUtc, settle });
  }

  get size(): number {
    return this.pending.size;
  }

  private onComplete(e: CompleteEvent): void {
    const id = e.msg?._msgid;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (!p || !p.waiting.delete(e.node.id)) return;
    if (e.error) p.failed = true;
    if (p.waiting.size > 0) return;
    this.pending.delete(id as string);
    p.settle(p.failed ? 'abandon' : 'complete');
  }

  /** Drops entries whose lock has expired: the hub has taken those messages back. */
  private prune(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) if (p.lockedUntilUtc < now) this.pending.delete(id);
  }

  close(): void {
    this.hooks.remove(this.hookName);
    this.pending.clear();
  }
}
