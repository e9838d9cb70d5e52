/**
 * The official Azure IoT SDKs (azure-iot-device with its five transports, and
 * azure-iothub's Client and Registry), unmodified, against the embedded hub
 * on IoT Hub's standard ports. See sdk-hub.ts for why it needs 443/5671/8883.
 */
import assert from 'node:assert/strict';
import * as https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { Client as SdkDeviceClient, Message } from 'azure-iot-device';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Http } from 'azure-iot-device-http';
import { Client as SdkServiceClient, Registry } from 'azure-iothub';
import { NoRetry } from 'azure-iot-common';
import { createSas } from '../../lib/common/sas';
import type { FeedbackRecord } from '../../lib/common/message';
import { startCompatHub, whyCompatCannotRun, type CompatHub } from './sdk-hub';

type SdkMessage = InstanceType<typeof Message>;
type TransportCtor = typeof Amqp | typeof AmqpWs | typeof Mqtt | typeof MqttWs | typeof Http;

interface TransportCase {
  name: string;
  ctor: TransportCtor;
  /** AMQP and HTTP devices can reject and abandon; MQTT can only complete (PUBACK). */
  settles: boolean;
  /** HTTP keeps the `iothub-app-` prefix on property names (sdk-wire.md §4). */
  propKey: (name: string) => string;
  x509: boolean;
}

const TRANSPORTS: TransportCase[] = [
  { name: 'Amqp', ctor: Amqp, settles: true, propKey: (n) => n, x509: true },
  { name: 'AmqpWs', ctor: AmqpWs, settles: true, propKey: (n) => n, x509: false },
  { name: 'Mqtt', ctor: Mqtt, settles: false, propKey: (n) => n, x509: true },
  { name: 'MqttWs', ctor: MqttWs, settles: false, propKey: (n) => n, x509: false },
  { name: 'Http', ctor: Http, settles: true, propKey: (n) => `iothub-app-${n}`, x509: true },
];

/** The messages an SDK device client receives, awaited one at a time. */
class Inbox {
  private readonly queue: SdkMessage[] = [];
  private readonly waiters: ((m: SdkMessage) => void)[] = [];
  push(m: SdkMessage): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }
  next(): Promise<SdkMessage> {
    const m = this.queue.shift();
    return m ? Promise.resolve(m) : new Promise((resolve) => this.waiters.push(resolve));
  }
}

interface OpenDevice {
  client: InstanceType<typeof SdkDeviceClient>;
  inbox: Inbox;
  errors: Error[];
}

async function openDevice(cs: string, t: TransportCase, options: Record<string, unknown> = {}): Promise<OpenDevice> {
  const client = SdkDeviceClient.fromConnectionString(cs, t.ctor);
  client.setRetryPolicy(new NoRetry());
  const errors: Error[] = [];
  client.on('error', (e: Error) => errors.push(e));
  // Http's setOptions resolves only when a receive policy is in the same call (sdk-wire.md §1.3).
  await client.setOptions({ ...options, http: { receivePolicy: { interval: 0.1 } } });
  const inbox = new Inbox();
  client.on('message', (m: SdkMessage) => inbox.push(m));
  await client.open();
  return { client, inbox, errors };
}

/** The feedback records the SDK's feedback receiver hands over, awaited by count. */
class FeedbackInbox {
  readonly records: FeedbackRecord[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  add(batch: FeedbackRecord[]): void {
    this.records.push(...batch);
    this.waiters = this.waiters.filter((w) => (this.records.length >= w.n ? (w.resolve(), false) : true));
  }
  /** Resolves once `n` records in all have arrived. */
  atLeast(n: number): Promise<void> {
    return this.records.length >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  forMessage(id: string): FeedbackRecord[] {
    return this.records.filter((r) => r.originalMessageId === id);
  }
}

function sdkMessage(
  body: string,
  fields: Partial<{ messageId: string; correlationId: string; ack: string; expiryTimeUtc: number; props: Record<string, string> }> = {},
): SdkMessage {
  const m = new Message(body);
  if (fields.messageId) m.messageId = fields.messageId;
  if (fields.correlationId) m.correlationId = fields.correlationId;
  if (fields.ack) m.ack = fields.ack;
  if (fields.expiryTimeUtc !== undefined) m.expiryTimeUtc = fields.expiryTimeUtc; // a number, never a Date (sdk-wire.md §5.1)
  for (const [k, v] of Object.entries(fields.props ?? {})) m.properties.add(k, v);
  return m;
}

function propsOf(m: SdkMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < m.properties.count(); i++) {
    const p = m.properties.getItem(i);
    out[p.key] = p.value;
  }
  return out;
}

describe('the official Azure IoT SDKs against the embedded hub (test/compat)', function () {
  this.timeout(60_000);
  let h: CompatHub;
  let svc: InstanceType<typeof SdkServiceClient>;
  const feedback = new FeedbackInbox();
  let serviceCs: string;
  let seq = 0;
  const newDevice = async (): Promise<{ id: string; cs: string }> => {
    const id = `compat-${++seq}`;
    await h.hub.hub.registry.createDevice({ deviceId: id });
    return { id, cs: h.hub.deviceConnectionString(id) };
  };
  const devices: OpenDevice[] = [];
  const open = async (cs: string, t: TransportCase, options?: Record<string, unknown>): Promise<OpenDevice> => {
    const d = await openDevice(cs, t, options);
    devices.push(d);
    return d;
  };
  const flushFeedback = (): Promise<void> => h.hub.hub.flushFeedback();

  before(async function () {
    const why = await whyCompatCannotRun();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    h = await startCompatHub();
    serviceCs = h.hub.serviceConnectionString();
    svc = SdkServiceClient.fromConnectionString(serviceCs);
    svc.setRetryPolicy(new NoRetry());
    await svc.open();
    await new Promise<void>((resolve, reject) => {
      svc.getFeedbackReceiver((err, receiver) => {
        if (err || !receiver) return reject(err ?? new Error('no feedback receiver'));
        receiver.on('message', (m: SdkMessage) => {
          assert.equal(m.contentType, 'application/vnd.microsoft.iothub.feedback.json');
          feedback.add(JSON.parse(m.getData().toString()) as FeedbackRecord[]);
        });
        resolve();
      });
    });
  });

  afterEach(async () => {
    // Device clients first, while the hub still answers (sdk-wire.md §6.10).
    for (const d of devices.splice(0)) await d.client.close();
  });

  after(async () => {
    if (svc) await svc.close(); // before the hub, or the service SDK crashes (sdk-wire.md §6.1)
    if (h) await h.close();
  });

  for (const t of TRANSPORTS) {
    describe(`a device on ${t.name}`, () => {
      it('receives and completes a message with its messageId, correlationId, expiry and properties intact; feedback Success', async () => {
        const { id, cs } = await newDevice();
        const d = await open(cs, t);
        const expiry = h.clock.now() + 30 * 60_000;
        await svc.send(
          id,
          sdkMessage('hello', { messageId: `m-${id}`, correlationId: 'corr-1', ack: 'full', expiryTimeUtc: expiry, props: { color: 'blue', n: '42' } }),
        );
        const m = await d.inbox.next();
        assert.equal(m.getData().toString(), 'hello');
        assert.equal(m.messageId, `m-${id}`);
        assert.equal(m.correlationId, 'corr-1');
        // AMQP decodes the timestamp to a number; MQTT and HTTP carry it as text (sdk-wire.md §6.8).
        assert.equal(new Date(m.expiryTimeUtc as string | number).getTime(), expiry);
        const props = propsOf(m);
        assert.equal(props[t.propKey('color')], 'blue');
        assert.equal(props[t.propKey('n')], '42');
        await d.client.complete(m);
        await waitFor(() => h.hub.hub.registry.getDevice(id)?.cloudToDeviceMessageCount === 0);
        await flushFeedback();
        await waitForFeedback(`m-${id}`, 1);
        const [r] = feedback.forMessage(`m-${id}`);
        assert.equal(r?.statusCode, 'Success');
        assert.equal(r?.deviceId, id);
        assert.equal(r?.deviceGenerationId, h.hub.hub.registry.getDevice(id)?.generationId);
      });

      if (t.settles) {
        it('rejects (dead-lettered, feedback Rejected) and abandons (redelivered with the delivery count +1)', async () => {
          const { id, cs } = await newDevice();
          const d = await open(cs, t);
          await svc.send(id, sdkMessage('to-abandon', { messageId: `a-${id}`, ack: 'full' }));
          const first = await d.inbox.next();
          const abandoned = once(h, 'abandoned');
          await d.client.abandon(first);
          assert.equal((await abandoned).deliveryCount, 1);
          const again = await d.inbox.next();
          assert.equal(again.messageId, `a-${id}`);
          const settled = outcomeOf(`a-${id}`);
          await d.client.reject(again);
          await settled; // the SDK resolves once the disposition is sent, before the hub has it
          await flushFeedback();
          await waitForFeedback(`a-${id}`, 1);
          assert.equal(feedback.forMessage(`a-${id}`)[0]?.statusCode, 'Rejected');
          assert.equal(h.hub.hub.registry.getDevice(id)?.cloudToDeviceMessageCount, 0);
        });

        it('gets the message again after its lock expires', async () => {
          const { id, cs } = await newDevice();
          const d = await open(cs, t);
          await svc.send(id, sdkMessage('keep', { messageId: `l-${id}` }));
          const first = await d.inbox.next();
          const expired = once(h, 'lockExpired');
          h.clock.advance(h.hub.hub.limits.lockTimeoutMs + 1);
          await expired;
          const again = await d.inbox.next();
          assert.equal(again.messageId, first.messageId);
          await d.client.complete(again);
          await waitFor(() => h.hub.hub.registry.getDevice(id)?.cloudToDeviceMessageCount === 0);
        });

        it('dead-letters a message abandoned maxDeliveryCount times and reports DeliveryCountExceeded', async () => {
          const { id, cs } = await newDevice();
          const d = await open(cs, t);
          await svc.send(id, sdkMessage('bounce', { messageId: `x-${id}`, ack: 'negative' }));
          const dead = once(h, 'deadLettered');
          for (let i = 0; i < h.hub.hub.limits.maxDeliveryCount; i++) await d.client.abandon(await d.inbox.next());
          assert.equal((await dead).reason, 'DeliveryCountExceeded');
          await flushFeedback();
          await waitForFeedback(`x-${id}`, 1);
          assert.equal(feedback.forMessage(`x-${id}`)[0]?.statusCode, 'DeliveryCountExceeded');
        });
      } else {
        it('cannot reject or abandon (MQTT): the SDK says so, PUBACK already completed the message', async () => {
          const { id, cs } = await newDevice();
          const d = await open(cs, t);
          const settled = outcomeOf(`q-${id}`);
          await svc.send(id, sdkMessage('m', { messageId: `q-${id}`, ack: 'positive' }));
          const m = await d.inbox.next();
          await settled;
          await assert.rejects(d.client.reject(m), /not implemented|NotImplemented/i);
          await assert.rejects(d.client.abandon(m), /not implemented|NotImplemented/i);
          await flushFeedback();
          await waitForFeedback(`q-${id}`, 1);
          assert.equal(feedback.forMessage(`q-${id}`)[0]?.statusCode, 'Success');
        });
      }

      it('is refused with a wrong key', async () => {
        const { cs } = await newDevice();
        const wrong = cs.replace(/SharedAccessKey=.*/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
        if (t.name === 'Http') {
          // The HTTP transport only polls; a refused poll is logged, not raised (sdk-wire.md §4): check the hub's answer.
          const res = await httpsGet(`/devices/${encodeURIComponent(parseDeviceId(wrong))}/messages/devicebound?api-version=2021-04-12`, deviceToken(wrong));
          assert.equal(res.status, 401);
          assert.match(res.body, /IotHubUnauthorized/);
          return;
        }
        const client = SdkDeviceClient.fromConnectionString(wrong, t.ctor);
        client.setRetryPolicy(new NoRetry());
        client.on('error', () => undefined);
        await assert.rejects(client.open(), (e: Error) => /Unauthorized|401|not authorized/i.test(`${e.name} ${e.message}`));
        await client.close();
      });

      if (t.x509) {
        it('authenticates a device by its X.509 certificate thumbprint', async () => {
          const id = `x509-${++seq}`;
          const pems = await generate([{ name: 'commonName', value: id }], { keySize: 2048, algorithm: 'sha256' });
          const thumb = new X509Certificate(pems.cert).fingerprint.replace(/:/g, '');
          await h.hub.hub.registry.createDevice({ deviceId: id, authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumb } } });
          const d = await open(`HostName=localhost;DeviceId=${id};x509=true`, t, { cert: pems.cert, key: pems.private });
          await svc.send(id, sdkMessage('by cert', { messageId: `c-${id}` }));
          const m = await d.inbox.next();
          assert.equal(m.getData().toString(), 'by cert');
          await d.client.complete(m);
          await waitFor(() => h.hub.hub.registry.getDevice(id)?.cloudToDeviceMessageCount === 0);
        });
      }
    });
  }

  describe("the service SDK's Client and Registry", () => {
    it('gets feedback for each ack mode exactly as asked', async () => {
      const { id, cs } = await newDevice();
      const d = await open(cs, TRANSPORTS[0] as TransportCase);
      const modes = ['none', 'positive', 'negative', 'full'] as const;
      const settled = Promise.all(modes.map((ack) => outcomeOf(`ack-${ack}-${id}`)));
      for (const ack of modes) await svc.send(id, sdkMessage(ack, { messageId: `ack-${ack}-${id}`, ack }));
      // complete the first two, reject the last two
      for (let i = 0; i < 4; i++) {
        const m = await d.inbox.next();
        if (i < 2) await d.client.complete(m);
        else await d.client.reject(m);
      }
      await settled;
      await flushFeedback();
      await waitForFeedback(`ack-full-${id}`, 1);
      await waitForFeedback(`ack-positive-${id}`, 1);
      assert.deepEqual(feedback.forMessage(`ack-none-${id}`), []);
      assert.equal(feedback.forMessage(`ack-positive-${id}`)[0]?.statusCode, 'Success');
      assert.deepEqual(
        feedback.forMessage(`ack-negative-${id}`).map((r) => r.statusCode),
        ['Rejected'],
      );
      assert.deepEqual(
        feedback.forMessage(`ack-full-${id}`).map((r) => r.statusCode),
        ['Rejected'],
      );
    });

    it('reports Expired for a message whose TTL passes before delivery', async () => {
      const { id } = await newDevice();
      await svc.send(id, sdkMessage('late', { messageId: `ttl-${id}`, ack: 'negative', expiryTimeUtc: h.clock.now() + 60_000 }));
      const expired = once(h, 'expired');
      h.clock.advance(60_001);
      await expired;
      await flushFeedback();
      await waitForFeedback(`ttl-${id}`, 1);
      assert.equal(feedback.forMessage(`ttl-${id}`)[0]?.statusCode, 'Expired');
    });

    it('refuses the 51st queued message with 403004 on send', async () => {
      const { id } = await newDevice();
      for (let i = 0; i < h.hub.hub.limits.maxQueueDepth; i++) await svc.send(id, sdkMessage(`n${i}`));
      await assert.rejects(svc.send(id, sdkMessage('one too many')), (e: Error & { amqpError?: { description?: string } }) => {
        assert.equal(e.name, 'DeviceMaximumQueueDepthExceededError');
        assert.match(`${e.message} ${e.amqpError?.description ?? ''}`, /403004/);
        return true;
      });
    });

    it('refuses a send to an unknown device with 404001', async () => {
      await assert.rejects(svc.send('no-such-device', sdkMessage('x')), (e: Error & { amqpError?: { description?: string } }) => {
        assert.equal(e.name, 'DeviceNotFoundError');
        assert.match(`${e.message} ${e.amqpError?.description ?? ''}`, /404001/);
        return true;
      });
    });

    it('refuses a service client with a wrong key (401003)', async () => {
      const wrong = serviceCs.replace(/SharedAccessKey=.*/, `SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`);
      const bad = SdkServiceClient.fromConnectionString(wrong);
      bad.setRetryPolicy(new NoRetry());
      // The SDK wraps the CBS refusal: 'Could not connect', with the hub's answer in amqpError.
      await assert.rejects(bad.open(), (e: Error & { amqpError?: Error }) => {
        assert.equal(e.amqpError?.name, 'UnauthorizedError');
        assert.match(e.amqpError?.message ?? '', /401003/);
        return true;
      });
      await bad.close();
    });

    it('creates a device through Registry, whose get shows cloudToDeviceMessageCount; purge over REST empties it', async () => {
      const registry = Registry.fromConnectionString(serviceCs);
      const id = `reg-${++seq}`;
      const created = (await registry.create({ deviceId: id })).responseBody;
      assert.equal(created.deviceId, id);
      assert.ok(created.authentication?.symmetricKey?.primaryKey, 'keys generated');
      await svc.send(id, sdkMessage('one'));
      await svc.send(id, sdkMessage('two'));
      const got = (await registry.get(id)).responseBody;
      assert.equal(got.cloudToDeviceMessageCount, 2);
      const purge = await httpsRequest('DELETE', `/devices/${id}/commands?api-version=2021-04-12`, serviceToken());
      assert.equal(purge.status, 200);
      assert.deepEqual(JSON.parse(purge.body), { deviceId: id, totalMessagesPurged: 2 });
      assert.equal((await registry.get(id)).responseBody.cloudToDeviceMessageCount, 0);
      await registry.delete(id);
      await assert.rejects(registry.get(id), (e: Error) => e.name === 'DeviceNotFoundError');
    });
  });

  // ------------------------------------------------------------ helpers

  /** Resolves when the hub has settled `messageId` for good (completed or dead-lettered): set up before the action. */
  function outcomeOf(messageId: string): Promise<void> {
    const ev = h.hub.hub.events;
    return new Promise((resolve) => {
      const done = (e: { messageId: string }): void => {
        if (e.messageId !== messageId) return;
        ev.off('completed', done);
        ev.off('deadLettered', done);
        resolve();
      };
      ev.on('completed', done);
      ev.on('deadLettered', done);
    });
  }

  function once<K extends 'abandoned' | 'lockExpired' | 'deadLettered' | 'expired'>(hub: CompatHub, event: K) {
    return new Promise<Parameters<Parameters<typeof hub.hub.hub.events.once<K>>[1]>[0]>((resolve) => hub.hub.hub.events.once(event, resolve));
  }

  async function waitFor(cond: () => boolean): Promise<void> {
    // Settlements reach the hub over the network: wait for the hub's own event, checking the condition each time.
    while (!cond()) {
      await new Promise<void>((resolve) => {
        const ev = h.hub.hub.events;
        const done = (): void => {
          for (const n of names) ev.off(n, done);
          resolve();
        };
        const names = ['completed', 'rejected', 'abandoned', 'deadLettered', 'purged', 'enqueued'] as const;
        for (const n of names) ev.on(n, done);
      });
    }
  }

  async function waitForFeedback(messageId: string, n: number): Promise<void> {
    while (feedback.forMessage(messageId).length < n) await feedback.atLeast(feedback.records.length + 1);
  }

  function serviceToken(): string {
    const policy = h.hub.hub.registry.getPolicy('iothubowner');
    return createSas('localhost', policy?.primaryKey as string, Math.floor(Date.now() / 1000) + 3600, 'iothubowner');
  }

  function parseDeviceId(cs: string): string {
    return /DeviceId=([^;]+)/.exec(cs)?.[1] as string;
  }

  function deviceToken(cs: string): string {
    const key = /SharedAccessKey=([^;]+)/.exec(cs)?.[1] as string;
    return createSas(`localhost/devices/${parseDeviceId(cs)}`, key, Math.floor(Date.now() / 1000) + 3600);
  }

  function httpsGet(p: string, auth: string): Promise<{ status: number; body: string }> {
    return httpsRequest('GET', p, auth);
  }

  function httpsRequest(method: string, p: string, auth: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: 'localhost', port: 443, method, path: p, headers: { authorization: auth }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });
  }
});
