/**
 * The slice of Node-RED's runtime API the nodes use, typed loosely where
 * @types/node-red (written for Node-RED 1.x) lags behind 4.x (hooks, close).
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';

export type RED = NodeAPI;
export type { Node, NodeDef };
export type Msg = Record<string, unknown> & { _msgid?: string };

export interface CompleteEvent {
  msg: { _msgid?: string };
  node: { id: string };
  error?: unknown;
}

/** RED.hooks with the onComplete hook of Node-RED >= 1.3. */
export interface Hooks {
  add(name: string, handler: (event: CompleteEvent) => void): void;
  remove(name: string): void;
}

/**
 * RED.hooks; node-red-node-test-helper's runtime lacks it, but the hooks
 * registry the runtime triggers is the @node-red/util singleton, so fall back to it.
 */
export function hooksOf(red: RED): Hooks {
  const h = (red as { hooks?: unknown }).hooks;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (h ?? (require('@node-red/util') as { hooks: unknown }).hooks) as Hooks;
}

/** Runs an async close step and always calls done (Node-RED waits at most 15 s). */
export function closeWith(node: Node, step: (removed: boolean) => Promise<void>): void {
  node.on('close', (removed: boolean, done: () => void) => {
    step(removed)
      .catch((e: unknown) => node.error(e instanceof Error ? e.message : String(e)))
      .finally(done);
  });
}

/**
 * Wires an async input handler the Node-RED 1.0+ way: the result (if any) is
 * sent, and a failure goes to done(err) so Catch nodes see it with its code.
 */
export function onInput(node: Node, handle: (msg: Msg) => Promise<Msg | null>): void {
  const on = node.on.bind(node) as unknown as (e: 'input', h: (msg: Msg, send: (m: Msg) => void, done: (err?: Error) => void) => void) => void;
  on('input', (msg, send, done) => {
    handle(msg).then(
      (out) => {
        if (out) send(out);
        done();
      },
      (e: unknown) => done(e instanceof Error ? e : new Error(String(e))),
    );
  });
}

/** Sends from outside an input handler (events, received messages). */
export function emit(node: Node, msg: Msg): void {
  (node.send as (m: Msg) => void)(msg);
}
