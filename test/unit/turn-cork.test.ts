/** TurnCork: what one turn writes reaches the stream as one write; the next turn's is its own. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { TurnCork } from '../../lib/common/turn-cork';

function recorder(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      writes.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, writes };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnCork', () => {
  it('sends the writes of one turn as one write, and those of the next turn apart', async () => {
    const { stream, writes } = recorder();
    const cork = new TurnCork(stream);
    for (const s of ['a', 'b', 'c']) {
      cork.hold();
      stream.write(s);
    }
    assert.deepEqual(writes, [], 'held until the turn ends');
    await turn();
    assert.deepEqual(writes, [['a', 'b', 'c']]);
    cork.hold();
    stream.write('d');
    await turn();
    assert.deepEqual(writes, [['a', 'b', 'c'], ['d']]);
    assert.equal(stream.writableCorked, 0, 'nothing left corked');
  });
});
