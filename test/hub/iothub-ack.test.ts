/**
 * IoT Hub writes `iothub-ack` on a delivered C2D message only when the
 * sender set it. On every transport of the embedded hub (MQTT topic bag,
 * AMQP application properties, HTTPS headers), a message sent without an
 * ack arrives without one, and one sent with `none` arrives with `none`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt from 'mqtt';
import { create_container, type EventContext } from 'rhea';
import { parseDeviceBoundTopic, buildMqttUsername } from '../../lib/common/codec/mqtt';
import { createSas } from '../../lib/common/sas';
import { CbsClient } from '../../lib/client/amqp/cbs';
import { stopHeartbeats } from '../../lib/common/rhea-internals';
import { EmbeddedHub } from '../../lib/hub/embedded';

describe('iothub-ack is carried only when the sender set it, on every transport', function () {
  this.timeout(30_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  let ca: string;
  const token = (deviceId: string): string => {
    const key = hub.hub.registry.getDevice(deviceId)?.authentication.symmetricKey.primaryKey as string;
    return createSas(`localhost/devices/${deviceId}`, key, Math.floor(Date.now() / 1000) + 3600);
  };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-ack-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: 0, mqtts: 0, https: 0 } });
    ca = hub.tls.cert;
    for (const id of ['mq', 'am', 'ht']) await hub.hub.registry.createDevice({ deviceId: id });
  });
  after(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function sendBoth(deviceId: string): Promise<void> {
    await hub.hub.send(deviceId, { body: Buffer.from('1'), messageId: 'unset' });
    await hub.hub.send(deviceId, { body: Buffer.from('2'), messageId: 'none', ack: 'none' });
  }

  it('MQTT: no iothub-ack in the topic unless the sender set one', async () => {
    await sendBoth('mq');
    const client = mqtt.connect(`mqtts://localhost:${hub.ports.mqtts}`, {
      ca,
      protocolVersion: 4,
      clientId: 'mq',
      username: buildMqttUsername({ host: 'localhost', deviceId: 'mq' }),
      password: token('mq'),
      clean: false,
      reconnectPeriod: 0,
    });
    try {
      await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
      const topics: string[] = [];
      const two = new Promise<void>((resolve) =>
        client.on('message', (topic) => {
          topics.push(topic);
          if (topics.length === 2) resolve();
        }),
      );
      await client.subscribeAsync('devices/mq/messages/devicebound/#', { qos: 1 });
      await two;
      const acks = topics.map((t) => Object.fromEntries(parseDeviceBoundTopic(t)!.entries)['iothub-ack']);
      assert.deepEqual(acks, [undefined, 'none'], topics.join('\n'));
    } finally {
      await client.endAsync(true);
    }
  });

  it('AMQP: no iothub-ack application property unless the sender set one', async () => {
    await sendBoth('am');
    const c = create_container({ id: 'ack-test' }).connect({
      host: 'localhost',
      port: hub.ports.amqps,
      transport: 'tls',
      ca,
      servername: 'localhost',
      reconnect: false,
    } as never);
    c.on('error', () => undefined);
    c.on('disconnected', () => undefined);
    try {
      await once(c, 'connection_open');
      const cbs = await CbsClient.attach(c);
      await cbs.putToken(encodeURIComponent('localhost/devices/am'), token('am'), 'sas');
      const r = c.open_receiver({ source: { address: '/devices/am/messages/devicebound' }, credit_window: 2 });
      const props: Record<string, unknown>[] = [];
      await new Promise<void>((resolve) =>
        r.on('message', (ctx: EventContext) => {
          props.push(ctx.message?.application_properties ?? {});
          if (props.length === 2) resolve();
        }),
      );
      assert.deepEqual(
        props.map((p) => p['iothub-ack']),
        [undefined, 'none'],
      );
    } finally {
      c.close();
      await once(c, 'connection_close').catch(() => undefined);
      stopHeartbeats(c);
    }
  });

  it('HTTPS: no iothub-ack header unless the sender set one', async () => {
    await sendBoth('ht');
    const get = (): Promise<Record<string, string | string[] | undefined>> =>
      new Promise((resolve, reject) => {
        https
          .get(
            {
              host: 'localhost',
              port: hub.ports.https,
              path: '/devices/ht/messages/devicebound?api-version=2021-04-12',
              ca,
              headers: { authorization: token('ht') },
              agent: false,
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.headers));
            },
          )
          .on('error', reject);
      });
    const first = await get();
    const second = await get();
    assert.deepEqual([first['iothub-messageid'], first['iothub-ack']], ['unset', undefined]);
    assert.deepEqual([second['iothub-messageid'], second['iothub-ack']], ['none', 'none']);
  });
});
