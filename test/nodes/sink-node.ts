/**
 * A test-only node that finishes like a real one: passes the msg on, then
 * calls done() — or done(err) for payload 'fail-once' on a first delivery —
 * so the runtime's onComplete hook (what c2d-receive's auto settlement
 * follows) fires. Payload 'hold' never calls done.
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';

export = function register(RED: NodeAPI): void {
  function Sink(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const on = this.on.bind(this) as unknown as (
      e: 'input',
      h: (msg: Record<string, unknown>, send: (m: object) => void, done: (e?: Error) => void) => void,
    ) => void;
    on('input', (msg, send, done) => {
      send(msg);
      if (msg.payload === 'hold') return; // never done: the lock must run out
      done(msg.payload === 'fail-once' && msg.deliveryCount === 0 ? new Error('sink failed') : undefined);
    });
  }
  RED.nodes.registerType('test-sink', Sink as never);
};
