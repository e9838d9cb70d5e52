/**
 * c2d-hub export, import and reset, run as the real command on stopped
 * stores: an export imported into a new store gives the same devices (keys
 * included), policies, pending messages and feedback, and delivery goes on
 * from there; import refuses a store that holds anything unless --force;
 * reset asks for --yes and keeps the registry only when told; none of them
 * touches a store a running hub holds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Hub } from '../../lib/hub';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION } from '../../lib/hub/snapshot';
import { killAll, runCli } from './cli-process';

describe('c2d-hub export, import and reset on a stopped store', function () {
  this.timeout(30_000);
  let root: string;
  let source: string;
  let target: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-store-cmd-'));
    source = path.join(root, 'source');
    target = path.join(root, 'target');
  });
  afterEach(() => {
    killAll();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A store with two devices, three pending messages (one delivered once and abandoned), a feedback record and a dead letter. */
  async function populate(dir: string): Promise<{ ids: string[] }> {
    const hub = await Hub.open({ dataDir: dir, limits: { feedbackBatchWindowMs: 0 } });
    try {
      await hub.registry.createDevice({ deviceId: 'd1' });
      await hub.registry.createDevice({ deviceId: 'd2', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB'.repeat(20) } } });
      const ids: string[] = [];
      for (const body of ['one', 'two', 'three']) ids.push((await hub.send('d1', { body: Buffer.from(body), ack: 'full', properties: { n: body } })).messageId);
      const first = await hub.receive('d1');
      await hub.abandon('d1', first!.lockToken);
      const done = await hub.send('d2', { body: Buffer.from('done'), ack: 'positive' });
      const got = await hub.receive('d2');
      assert.equal(got?.messageId, done.messageId);
      await hub.complete('d2', got!.lockToken);
      // And a kept dead letter: rejected, no feedback asked for.
      await hub.send('d2', { body: Buffer.from('bad'), messageId: 'rejected-one', properties: { why: 'test' } });
      await hub.reject('d2', (await hub.receive('d2'))!.lockToken);
      return { ids };
    } finally {
      await hub.close();
    }
  }

  it('export -> import into a new store gives the same devices, policies, pending messages and feedback, and delivery continues', async () => {
    const { ids } = await populate(source);
    const before = await Hub.open({ dataDir: source });
    const devices = before.registry.listDevices().map(({ connectionState: _c, cloudToDeviceMessageCount: _n, ...d }) => d);
    const policies = before.registry.listPolicies();
    const feedback = before.feedbackState();
    await before.close();

    const file = path.join(root, 'export.json');
    const exported = await runCli(['export', file, '--data', source]);
    assert.equal(exported.code, 0, exported.err);
    assert.match(exported.out, /Exported 2 devices, 5 policies, 3 pending messages, 1 dead letters/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the export holds keys: owner only');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(json.format, SNAPSHOT_FORMAT);
    assert.equal(json.version, SNAPSHOT_VERSION);
    assert.deepEqual(Object.keys(json).sort(), ['deadLetters', 'exportedAt', 'feedback', 'format', 'queues', 'registry', 'version']);

    const imported = await runCli(['import', file, '--data', target]);
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /Imported 2 devices, 5 policies, 3 pending messages, 1 dead letters/);

    const after = await Hub.open({ dataDir: target, limits: { feedbackBatchWindowMs: 0 } });
    try {
      assert.deepEqual(
        after.registry.listDevices().map(({ connectionState: _c, cloudToDeviceMessageCount: _n, ...d }) => d),
        devices,
        'devices, keys and thumbprints included',
      );
      assert.deepEqual(after.registry.listPolicies(), policies);
      assert.deepEqual(after.feedbackState(), feedback, 'the Success record of d2 is still to be batched');
      assert.deepEqual(
        after.deadLetters({ includeBody: true }).items.map((d) => [d.deviceId, d.messageId, d.reason, d.body?.toString(), d.properties.why]),
        [['d2', 'rejected-one', 'Rejected', 'bad', 'test']],
      );
      const queue = after
        .queueOf('d1')!
        .messages.map((e) => ({ id: e.message.messageId, body: e.message.body.toString(), count: e.message.deliveryCount, props: e.message.properties }));
      assert.deepEqual(queue, [
        { id: ids[0], body: 'one', count: 1, props: { n: 'one' } },
        { id: ids[1], body: 'two', count: 0, props: { n: 'two' } },
        { id: ids[2], body: 'three', count: 0, props: { n: 'three' } },
      ]);
      // Delivery continues: the oldest first, with its delivery count; new sends number on from the old sequence.
      const next = await after.receive('d1');
      assert.equal(next?.messageId, ids[0]);
      assert.equal(next?.deliveryCount, 1);
      await after.complete('d1', next!.lockToken);
      const sent = await after.send('d1', { body: Buffer.from('four') });
      assert.equal(sent.sequenceNumber, 4);
      await after.flushFeedback();
      const records: string[][] = [];
      for (let b = await after.receiveFeedback(); b; b = await after.receiveFeedback()) records.push(...b.records.map((r) => [r.deviceId, r.statusCode]));
      assert.deepEqual(
        records.sort(),
        [
          ['d1', 'Success'],
          ['d2', 'Success'],
        ],
        'the imported record and the new one',
      );
    } finally {
      await after.close();
    }
  });

  it('import refuses a store that holds anything unless --force, and refuses files it cannot read', async () => {
    await populate(source);
    const file = path.join(root, 'export.json');
    assert.equal((await runCli(['export', file, '--data', source])).code, 0);
    const onto = await Hub.open({ dataDir: target });
    await onto.registry.createDevice({ deviceId: 'other' });
    await onto.close();

    const refused = await runCli(['import', file, '--data', target]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /is not empty \(1 devices, 5 policies, 0 messages\); add --force to replace it/);
    const forced = await runCli(['import', file, '--data', target, '--force']);
    assert.equal(forced.code, 0, forced.err);
    const hub = await Hub.open({ dataDir: target });
    try {
      assert.deepEqual(
        hub.registry
          .listDevices()
          .map((d) => d.deviceId)
          .sort(),
        ['d1', 'd2'],
        'what the store held is gone',
      );
    } finally {
      await hub.close();
    }

    // An export from before hubs kept dead letters has no such section: it imports, with none.
    const older = path.join(root, 'older.json');
    const { deadLetters: _dl, ...withoutDeadLetters } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(older, JSON.stringify(withoutDeadLetters));
    const old = await runCli(['import', older, '--data', path.join(root, 'old')]);
    assert.equal(old.code, 0, old.err);
    assert.match(old.out, /3 pending messages, 0 dead letters/);
    const newer = path.join(root, 'newer.json');
    fs.writeFileSync(newer, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), twins: [] }));
    let r = await runCli(['import', newer, '--data', path.join(root, 'x'), '--force']);
    assert.equal(r.code, 1);
    assert.match(r.err, /has a section 'twins' this c2d-hub does not know/);
    fs.writeFileSync(newer, JSON.stringify({ format: SNAPSHOT_FORMAT, version: 99 }));
    r = await runCli(['import', newer, '--data', path.join(root, 'x')]);
    assert.match(r.err, /reads export version 1, the file is version 99/);
    r = await runCli(['import', path.join(root, 'missing.json'), '--data', path.join(root, 'x')]);
    assert.match(r.err, /Cannot read the export .*missing\.json/);
  });

  it('reset asks for --yes, empties messages and feedback, and keeps the registry only with --keep-registry', async () => {
    await populate(source);
    let r = await runCli(['reset', '--data', source]);
    assert.equal(r.code, 1);
    assert.match(r.err, /empties the store .*add --yes/);

    r = await runCli(['reset', '--data', source, '--yes', '--keep-registry']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /3 messages, 1 dead letters and/);
    let hub = await Hub.open({ dataDir: source });
    try {
      assert.deepEqual(
        hub.registry
          .listDevices()
          .map((d) => d.deviceId)
          .sort(),
        ['d1', 'd2'],
      );
      assert.equal(hub.stats().queued, 0);
      assert.equal(hub.feedbackState().pending.length, 0);
      assert.equal(hub.stats().deadLetters, 0, 'dead letters go with the messages');
      assert.equal((await hub.send('d1', { body: Buffer.from('x') })).sequenceNumber, 1, 'sequence numbers start over with the queue');
    } finally {
      await hub.close();
    }

    r = await runCli(['reset', '--data', source, '--yes']);
    assert.equal(r.code, 0, r.err);
    hub = await Hub.open({ dataDir: source });
    try {
      assert.equal(hub.registry.listDevices().length, 0);
      assert.equal(hub.stats().queued, 0);
      assert.deepEqual(
        hub.registry.listPolicies().map((p) => p.keyName),
        ['iothubowner', 'service', 'device', 'registryRead', 'registryReadWrite'],
        'a fresh hub gets fresh default policies',
      );
    } finally {
      await hub.close();
    }
  });

  it('none of them touches a store that a running hub holds, nor makes one that is missing', async () => {
    await populate(source);
    const running = await Hub.open({ dataDir: source });
    try {
      for (const args of [
        ['export', path.join(root, 'e.json')],
        ['import', path.join(root, 'e.json'), '--force'],
        ['reset', '--yes'],
      ]) {
        if (args[0] === 'import')
          fs.writeFileSync(
            args[1]!,
            JSON.stringify({
              format: SNAPSHOT_FORMAT,
              version: 1,
              exportedAt: '',
              registry: { devices: [], policies: [] },
              queues: { messages: [], sequences: {} },
              feedback: { pending: [], batches: [] },
            }),
          );
        const r = await runCli([...args, '--data', source]);
        assert.equal(r.code, 1, `${args[0]}: ${r.out}`);
        assert.match(r.err, /is in use by a running hub: stop it first/);
      }
      assert.equal(running.stats().queued + running.stats().locked, 3, 'the running hub kept its messages');
    } finally {
      await running.close();
    }
    const r = await runCli(['export', path.join(root, 'e.json'), '--data', path.join(root, 'nothing-here')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /There is no hub store in .*nothing-here/);
    assert.ok(!fs.existsSync(path.join(root, 'nothing-here', 'hub.db')));
  });
});
