/**
 * Wire parity with the official SDKs where only IoT Hub's standard ports
 * reach them: what our clients and the SDKs put on the wire for the same
 * operation is recorded at the hub and compared.
 * - HTTP device (azure-iot-device-http reaches HTTPS only on 443): request
 *   lines, query parameters and the headers that carry meaning.
 * - Service send (azure-iothub Client trusts the hub only through
 *   NODE_EXTRA_CA_CERTS): CBS put-token, link addresses and the sent message.
 * The AMQP and MQTT device sides are compared in test/client/wire-parity*.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Client as SdkDeviceClient, Message as SdkMessage } from 'azure-iot-device';
import { Http as SdkHttp } from 'azure-iot-device-http';
import { Client as SdkServiceClient } from 'azure-iothub';
import { NoRetry as SdkNoRetry } from 'azure-iot-common';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { tap, type Recording } from '../client/rhea-tap';
import { startCompatHub, whyCompatCannotRun, type CompatHub } from './sdk-hub';

/** The meaningful shape of one HTTPS request, ids and lock tokens replaced. */
function shapeOf(req: IncomingMessage, deviceId: string): string {
  const url = new URL(req.url ?? '/', 'https://localhost');
  const path = decodeURIComponent(url.pathname)
    .replace(deviceId, '<id>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i, '<lock>')
    .replace(/devicebound/i, 'devicebound');
  const query = [...url.searchParams.keys()].sort().join(',');
  const auth = /^SharedAccessSignature sr=([^&]+)&/.exec(String(req.headers.authorization ?? ''))?.[1]?.replace(encodeURIComponent(deviceId), '<id>');
  const ifMatch = req.headers['if-match'] !== undefined ? ' if-match' : '';
  return `${req.method} ${path} ?${query} sr=${auth}${ifMatch}`;
}

function tapHttps(deviceId: string, shapes: Set<string>): () => void {
  const proto = https.Server.prototype as unknown as { emit(event: string, ...args: unknown[]): boolean };
  const original = proto.emit;
  proto.emit = function (this: unknown, event: string, ...args: unknown[]) {
    if (event === 'request') {
      const req = args[0] as IncomingMessage;
      if (req.url?.includes(encodeURIComponent(deviceId)) || req.url?.includes(deviceId)) shapes.add(shapeOf(req, deviceId));
    }
    return original.call(this, event, ...args);
  };
  return () => {
    proto.emit = original;
  };
}

describe('wire parity with the official SDKs on the standard ports (test/compat)', function () {
  this.timeout(60_000);
  let h: CompatHub;

  before(async function () {
    const why = await whyCompatCannotRun();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    h = await startCompatHub();
  });
  after(async () => {
    if (h) await h.close();
  });

  it('HTTP device: the same requests (paths, api-version, sr, If-Match) to receive and complete', async () => {
    const ours = new Set<string>();
    const sdk = new Set<string>();
    await h.hub.hub.registry.createDevice({ deviceId: 'hp-ours' });
    await h.hub.hub.registry.createDevice({ deviceId: 'hp-sdk' });

    let untap = tapHttps('hp-ours', ours);
    try {
      const c = DeviceClient.fromConnectionString(h.hub.deviceConnectionString('hp-ours'), {
        transport: 'http',
        httpPollIntervalMs: 100,
        retryPolicy: new NoRetry(),
      });
      const got = new Promise<ReceivedMessage>((resolve) => c.on('message', resolve));
      await c.open();
      await h.hub.hub.send('hp-ours', { body: Buffer.from('x') });
      const completed = once(h.hub.hub.events, 'completed');
      await c.complete(await got);
      await completed;
      await c.close();
    } finally {
      untap();
    }

    untap = tapHttps('hp-sdk', sdk);
    try {
      const s = SdkDeviceClient.fromConnectionString(h.hub.deviceConnectionString('hp-sdk'), SdkHttp);
      s.setRetryPolicy(new SdkNoRetry());
      await s.setOptions({ http: { receivePolicy: { interval: 0.1 } } });
      const got = new Promise<InstanceType<typeof SdkMessage>>((resolve) => s.on('message', resolve));
      await s.open();
      await h.hub.hub.send('hp-sdk', { body: Buffer.from('x') });
      const completed = once(h.hub.hub.events, 'completed');
      await s.complete(await got);
      await completed;
      await s.close();
    } finally {
      untap();
    }

    assert.deepEqual([...ours].sort(), [...sdk].sort());
    assert.deepEqual([...ours].sort(), [
      'DELETE /devices/<id>/messages/devicebound/<lock> ?api-version sr=localhost%2Fdevices%2F<id> if-match',
      'GET /devices/<id>/messages/devicebound ?api-version sr=localhost%2Fdevices%2F<id>',
    ]);
  });

  it('service send: the same CBS put-token, link addresses and message (to, message id, iothub-ack, properties, data body)', async () => {
    await h.hub.hub.registry.createDevice({ deviceId: 'sp' });
    const ours: Recording = { attaches: [], cbs: [], outcomes: [], sends: [] };
    const sdk: Recording = { attaches: [], cbs: [], outcomes: [], sends: [] };

    let untap = tap(ours);
    try {
      const svc = ServiceClient.fromConnectionString(h.hub.serviceConnectionString(), { retryPolicy: new NoRetry() });
      await svc.open();
      await svc.send('sp', Buffer.from('x'), { ack: 'full', messageId: 'm-ours', properties: { color: 'blue' } });
      await svc.close();
    } finally {
      untap();
    }

    untap = tap(sdk);
    try {
      const svc = SdkServiceClient.fromConnectionString(h.hub.serviceConnectionString());
      svc.setRetryPolicy(new SdkNoRetry());
      await svc.open();
      const m = new SdkMessage('x');
      m.messageId = 'm-sdk';
      m.ack = 'full';
      m.properties.add('color', 'blue');
      await svc.send('sp', m);
      await svc.close();
    } finally {
      untap();
    }

    const norm = (r: Recording): unknown => ({
      cbs: r.cbs,
      attaches: r.attaches.map((a) => ({ role: a.role, address: a.address })).sort((a, b) => (a.role + a.address).localeCompare(b.role + b.address)),
      sends: r.sends,
    });
    assert.deepEqual(norm(ours), norm(sdk));
    assert.deepEqual(norm(ours), {
      cbs: [{ operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost', to: '$cbs', replyTo: 'cbs', tokenIsSas: true }],
      attaches: [
        { role: 'client-receiver', address: '$cbs' },
        { role: 'client-sender', address: '/messages/devicebound' },
        { role: 'client-sender', address: '$cbs' },
      ],
      sends: [{ to: '/devices/sp/messages/devicebound', hasMessageId: true, applicationProperties: { color: 'blue', 'iothub-ack': 'full' }, bodyIsData: true }],
    });
  });
});
