/**
 * The seed: over HTTPS, poll "a minimum of every 25 minutes", or IoT Hub
 * throttles. Against an Azure host the client defaults to that and warns
 * (a `warning` event; the c2d-hub-config node logs it) when told to poll
 * faster; against the embedded hub fast polling stays the default.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { isAzureIotHubHost } from '../../lib/common/azure-host';
import { IOT_HUB_HTTP_MIN_POLL_MS } from '../../lib/common/limits';
import { NoRetry } from '../../lib/common/retry';
import { ALL_NODES, helper, nextMsg } from '../nodes/helpers';

const KEY = Buffer.alloc(32, 1).toString('base64');
const AZURE = `HostName=myhub.azure-devices.net;DeviceId=d1;SharedAccessKey=${KEY}`;
const LOCAL = `HostName=localhost:8443;DeviceId=d1;SharedAccessKey=${KEY}`;

/** The warnings a client emits on open() (the open itself fails: no such host here). */
async function warningsOnOpen(c: DeviceClient): Promise<string[]> {
  const said: string[] = [];
  c.on('warning', (w: { message: string }) => said.push(w.message));
  await c.open().catch(() => undefined);
  await c.close();
  return said;
}

describe("HTTPS polling: IoT Hub's 25 minutes against Azure, fast against the embedded hub", function () {
  this.timeout(20_000);

  it('knows Azure IoT Hub host names (public and national clouds), with or without a port', () => {
    for (const h of ['myhub.azure-devices.net', 'MyHub.Azure-Devices.NET:443', 'h.azure-devices.cn', 'h.azure-devices.us'])
      assert.equal(isAzureIotHubHost(h), true, h);
    for (const h of ['localhost', 'azure-devices.net', 'myhub.azure-devices.net.example.com', 'hub.local']) assert.equal(isAzureIotHubHost(h), false, h);
  });

  it('defaults to 25 minutes for an Azure host and 1 s otherwise', () => {
    assert.equal(IOT_HUB_HTTP_MIN_POLL_MS, 25 * 60_000);
    assert.equal(DeviceClient.fromConnectionString(AZURE, { transport: 'http' }).httpPollIntervalMs, IOT_HUB_HTTP_MIN_POLL_MS);
    assert.equal(DeviceClient.fromConnectionString(LOCAL, { transport: 'http' }).httpPollIntervalMs, 1000);
  });

  it('warns on open() when told to poll Azure faster than that; not at 25 minutes, not on the embedded hub, not over MQTT', async () => {
    const fast = await warningsOnOpen(DeviceClient.fromConnectionString(AZURE, { transport: 'http', httpPollIntervalMs: 5000, retryPolicy: new NoRetry() }));
    assert.equal(fast.length, 1);
    assert.match(fast[0]!, /every 5 s.*at most every 25 minutes.*throttles/);
    for (const c of [
      DeviceClient.fromConnectionString(AZURE, { transport: 'http', httpPollIntervalMs: IOT_HUB_HTTP_MIN_POLL_MS, retryPolicy: new NoRetry() }),
      DeviceClient.fromConnectionString(LOCAL, { transport: 'http', httpPollIntervalMs: 50, retryPolicy: new NoRetry() }),
      DeviceClient.fromConnectionString(AZURE, { transport: 'mqtt', httpPollIntervalMs: 5000, retryPolicy: new NoRetry() }),
    ]) {
      assert.deepEqual(await warningsOnOpen(c), []);
    }
  });

  describe('c2d-receive over HTTPS to Azure IoT Hub', () => {
    afterEach(() => helper.unload());

    it('its config node warns when the node polls every 5 s', async () => {
      await helper.load(
        ALL_NODES,
        [
          { id: 'f1', type: 'tab' },
          { id: 'az', type: 'c2d-hub-config', target: 'network', role: 'device', transport: 'http', auth: 'connection-string', deviceId: 'd1' },
          { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'az', settle: 'auto', pollInterval: '5', wires: [[]] },
        ],
        { az: { connectionString: AZURE } },
      );
      const cfg = helper.getNode('az') as unknown as { warn: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } } & Parameters<typeof nextMsg>[0];
      const said = (): string[] =>
        cfg.warn
          .getCalls()
          .filter((c) => c.thisValue === cfg)
          .map((c) => String(c.args[0]));
      // The test helper re-emits every warn() as a `call:warn` event on the node.
      while (!said().some((m) => /25 minutes/.test(m))) await once(cfg, 'call:warn');
      assert.ok(
        said().some((m) => /every 5 s.*25 minutes/.test(m)),
        said().join(' | '),
      );
    });
  });
});
