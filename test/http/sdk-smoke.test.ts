/**
 * The official Node SDKs against our HTTPS server, without port 443: an agent
 * that redirects their connections to our ephemeral port (sdk-wire.md §1.4
 * "Alternatives"), and our certificate as trust anchor through the agent.
 */
import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import { startRig, type Rig } from './helpers';

/* eslint-disable @typescript-eslint/no-require-imports */
const { Client } = require('azure-iot-device') as typeof import('azure-iot-device');
type Message = import('azure-iot-device').Message;
const { Http } = require('azure-iot-device-http') as typeof import('azure-iot-device-http');
const { Registry } = require('azure-iothub') as typeof import('azure-iothub');
const { NoRetry } = require('azure-iot-common') as typeof import('azure-iot-common');
/* eslint-enable @typescript-eslint/no-require-imports */

/** An https agent that sends every connection to `port` on loopback, trusting `ca`. */
function redirectingAgent(port: number, ca: string): https.Agent {
  class Redirect extends https.Agent {
    override createConnection(options: https.RequestOptions, cb?: (err: Error | null, s: Duplex) => void): Duplex | null | undefined {
      return super.createConnection({ ...options, host: 'localhost', port }, cb);
    }
  }
  return new Redirect({ ca, keepAlive: false });
}

describe('official SDK smoke over HTTPS (azure-iot-device-http, azure-iothub Registry)', () => {
  let rig: Rig;
  let agent: https.Agent;
  before(async () => {
    rig = await startRig();
    agent = redirectingAgent(rig.port, rig.tls.cert);
  });
  after(async () => {
    agent.destroy();
    await rig.close();
  });

  it('Registry creates (keys generated), gets and deletes a device', async () => {
    const hubCs = `HostName=localhost;SharedAccessKeyName=owner;SharedAccessKey=${rig.hub.registry.getPolicy('owner')?.primaryKey ?? ''}`;
    const registry = Registry.fromConnectionString(hubCs);
    (registry as unknown as { _restApiClient: { setOptions(o: unknown): void } })._restApiClient.setOptions({ http: { agent } });
    const created = await registry.create({ deviceId: 'sdk-dev' });
    const key = created.responseBody.authentication?.symmetricKey?.primaryKey;
    assert.ok(key && Buffer.from(key, 'base64').length === 32);
    const got = await registry.get('sdk-dev');
    assert.equal(got.responseBody.cloudToDeviceMessageCount, 0);
    await assert.rejects(registry.create({ deviceId: 'sdk-dev' }), (e: Error) => e.constructor.name === 'DeviceAlreadyExistsError');
    await registry.delete('sdk-dev');
    await assert.rejects(registry.get('sdk-dev'), (e: Error) => e.constructor.name === 'DeviceNotFoundError');
  });

  it('the HTTP device client receives, completes, rejects and abandons', async () => {
    const key = await rig.addDevice('sdk-http');
    const device = Client.fromConnectionString(`HostName=localhost;DeviceId=sdk-http;SharedAccessKey=${key}`, Http);
    device.setRetryPolicy(new NoRetry());
    device.on('error', () => undefined);
    await device.setOptions({ ca: rig.tls.cert, http: { agent, receivePolicy: { interval: 1, drain: true } } } as never);
    for (const [id, ack] of [
      ['complete-me', 'full'],
      ['reject-me', 'full'],
      ['abandon-me', 'none'],
    ] as const) {
      await rig.hub.send('sdk-http', { body: Buffer.from(id), messageId: id, ack, properties: { kind: id } });
    }
    const outcomes: string[] = [];
    const finished = new Promise<void>((resolve, reject) => {
      let abandoned = false;
      device.on('message', (m: Message) => {
        const id = String(m.messageId);
        const settle = (what: string, p: Promise<unknown>): void => {
          p.then(() => {
            outcomes.push(`${what} ${id}`);
            if (outcomes.length === 4) resolve();
          }, reject);
        };
        assert.equal(m.properties.getValue('iothub-app-kind'), id);
        if (id === 'complete-me') settle('completed', device.complete(m));
        else if (id === 'reject-me') settle('rejected', device.reject(m));
        else if (!abandoned) {
          abandoned = true;
          settle('abandoned', device.abandon(m));
        } else settle('completed', device.complete(m));
      });
    });
    await finished;
    await device.close();
    assert.deepEqual(outcomes.sort(), ['abandoned abandon-me', 'completed abandon-me', 'completed complete-me', 'rejected reject-me']);
    assert.equal(rig.hub.registry.getDevice('sdk-http')?.cloudToDeviceMessageCount, 0);
  });
});
