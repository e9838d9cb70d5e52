import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { guardStream, type RheaSocket } from '../../lib/hub/amqp/frame-guard';

/** A stand-in for the TLS socket under the guard: only events matter here. */
function socket(): RheaSocket & EventEmitter {
  return Object.assign(new EventEmitter(), { write: () => true, end: () => undefined, destroy: () => undefined });
}

describe('AMQP frame guard: a socket rhea has let go of', () => {
  it('keeps an error listener, so an EPIPE after rhea detached cannot end the process', () => {
    const s = socket();
    const g = guardStream(s, 1024, () => undefined);
    const seen: unknown[] = [];
    g.on('error', (e) => seen.push(e));
    g.removeAllListeners!('error');
    // Without a listener EventEmitter throws on 'error' (that is the crash this guards against).
    assert.doesNotThrow(() => s.emit('error', new Error('write EPIPE')));
    assert.deepEqual(seen, []);
  });

  it('hands data and errors to the handlers rhea gives after detaching, not to the old ones', () => {
    const s = socket();
    const g = guardStream(s, 1024, () => undefined);
    const old: unknown[] = [];
    const now: unknown[] = [];
    g.on('error', (e) => old.push(e));
    g.removeAllListeners!();
    g.on('error', (e) => now.push(e));
    const err = new Error('reset');
    s.emit('error', err);
    assert.deepEqual([old, now], [[], [err]]);
  });
});
