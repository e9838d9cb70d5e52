/**
 * Fuzzing the hub's three ports with fast-check over real TLS sockets: each
 * case writes hostile bytes (fuzz-cases.ts), half-closes and waits for the
 * hub to close. Cases run in batches; after every batch a well-behaved client
 * of that protocol must still get through, no connection may be left open,
 * and the heap must stay bounded. HTTP answers must never be 5xx. 300 cases
 * per protocol by default, 10,000 with C2D_LONG=1.
 */
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import fc from 'fast-check';
import { WireRig } from '../security/wire';
import { DEVICE_TOKEN, OWNER_TOKEN, amqpCases, httpCases, mqttCases } from './fuzz-cases';

const LONG = process.env.C2D_LONG === '1';
const CASES = Number(process.env.C2D_FUZZ_CASES ?? (LONG ? 10_000 : 300));
const BATCH = 100;
const PARALLEL = 8;
const API = 'api-version=2021-04-12';

/** Writes `data`, half-closes, and resolves the bytes the hub answered once it closed (or 'timeout'). */
function hit(port: number, ca: string, data: Buffer): Promise<Buffer | 'timeout'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => s.end(data));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', () => undefined);
    // A guard, not a wait: a hub that keeps a half-closed hostile socket open is a finding.
    s.setTimeout(10_000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Lets the hub's side of closed sockets finish closing (event-loop turns, no timers). */
async function settled(rig: WireRig): Promise<number> {
  for (let i = 0; i < 10_000 && rig.hub.openConnections() > 0; i++) await new Promise((r) => setImmediate(r));
  return rig.hub.openConnections();
}

type Proto = 'mqtts' | 'amqps' | 'https';

describe(`fuzzing: ${CASES} hostile inputs per protocol over TLS; the hub keeps serving`, function () {
  this.timeout(LONG ? 1_800_000 : 60_000);
  let rig: WireRig;
  before(async () => {
    rig = await WireRig.start();
    await rig.addDevice('d1');
    await rig.addDevice('good');
  });
  after(() => rig.close());

  const goodClient: Record<Proto, () => Promise<void>> = {
    mqtts: async () => {
      const c = await rig.mqtt('good', rig.deviceToken('good'));
      assert.ok(!('refused' in c), 'a good MQTT device connects');
      await c.subscribeAsync('devices/good/messages/devicebound/#', { qos: 1 });
      const got = new Promise<Buffer>((resolve) => c.once('message', (_t: string, p: Buffer) => resolve(p)));
      await rig.hub.hub.send('good', { body: Buffer.from('hello') });
      assert.equal((await got).toString(), 'hello');
      await c.endAsync();
    },
    amqps: async () => {
      const c = await rig.amqp();
      assert.equal((await c.putToken(rig.deviceToken('good'), 'localhost/devices/good')).status, 200);
      await c.attachReceiver('/devices/good/messages/devicebound');
      await c.close();
    },
    https: async () => {
      const r = await rig.request('GET', `/devices/good/messages/devicebound?${API}`, { authorization: rig.deviceToken('good') });
      assert.ok(r.status === 204 || r.status === 200, `good HTTP device: ${r.status}`);
    },
  };

  /** HTTP cases get real tokens in place of the placeholders, so they reach the route handlers. */
  const withTokens = (b: Buffer): Buffer =>
    Buffer.from(b.toString('latin1').replaceAll(OWNER_TOKEN, rig.policyToken('iothubowner')).replaceAll(DEVICE_TOKEN, rig.deviceToken('d1')), 'latin1');
  const cases: Record<Proto, fc.Arbitrary<Buffer>> = { mqtts: mqttCases, amqps: amqpCases, https: httpCases.map((b) => withTokens(b)) };

  for (const proto of ['mqtts', 'amqps', 'https'] as const) {
    it(`${proto}: ${CASES} cases`, async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      const statuses = new Map<string, number>();
      const findings: string[] = [];
      const all = fc.sample(cases[proto], { numRuns: CASES, seed: Number(process.env.C2D_FUZZ_SEED ?? Date.now() % 2 ** 31) });
      for (let b = 0; b < all.length; b += BATCH) {
        const batch = all.slice(b, b + BATCH);
        for (let i = 0; i < batch.length; i += PARALLEL) {
          const chunk = batch.slice(i, i + PARALLEL);
          const replies = await Promise.all(chunk.map((data) => hit(rig.ports[proto], rig.ca, data)));
          replies.forEach((reply, j) => {
            if (reply === 'timeout') return findings.push(`no close: ${(chunk[j] as Buffer).subarray(0, 60).toString('hex')}`);
            if (proto !== 'https') return;
            const status = /^HTTP\/1\.[01] (\d{3})/.exec(reply.toString('latin1'))?.[1] ?? 'none';
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status.startsWith('5')) findings.push(`${status} for ${JSON.stringify((chunk[j] as Buffer).subarray(0, 120).toString('latin1'))}`);
          });
        }
        assert.equal(await settled(rig), 0, 'every hostile connection was closed by the hub');
        await goodClient[proto]();
      }
      const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
      console.log(
        `      ${proto}: ${all.length} cases, heap ${heapMb >= 0 ? '+' : ''}${heapMb.toFixed(1)} MB${proto === 'https' ? `, statuses ${JSON.stringify(Object.fromEntries(statuses))}` : ''}`,
      );
      assert.deepEqual(findings.slice(0, 10), []);
      assert.ok(heapMb < 100, `heap grew ${heapMb.toFixed(1)} MB`);
    });
  }
});
