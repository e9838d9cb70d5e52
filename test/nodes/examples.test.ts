import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = path.resolve(__dirname, '../../../examples');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
const NODE_TYPES = ['c2d-hub', 'c2d-send', 'c2d-receive', 'c2d-ack', 'c2d-feedback'];

type N = Record<string, unknown> & { id: string; type: string };

describe('examples', function () {
  it('use every non-config node type between them', () => {
    const used = new Set(files.flatMap((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as N[]).map((n) => n.type)));
    for (const t of NODE_TYPES) assert.ok(used.has(t), t);
  });

  for (const f of files) {
    it(`${f}: a comment node, every config reference resolves, no credentials, no duplicate ids`, () => {
      const flow = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as N[];
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length);
      assert.ok(flow.some((n) => n.type === 'comment'));
      for (const n of flow) {
        assert.equal(n.credentials, undefined, `${n.id} carries credentials`);
        if (typeof n.hub === 'string' && n.hub !== '') assert.ok(ids.has(n.hub), `${n.id}.hub -> ${n.hub}`);
        for (const out of (n.wires as string[][] | undefined) ?? []) for (const w of out) assert.ok(ids.has(w), `${n.id} wired to ${w}`);
      }
      assert.doesNotMatch(JSON.stringify(flow), /SharedAccessKey=[A-Za-z0-9+/]{20,}/);
    });
  }
});
