/**
 * The command's admin listener and log, on the real command: /health,
 * /ready (503 with the reason while the store's disk is full, 200 again
 * once it has room: the disk tests' tmpfs, root only), /metrics parsed by a
 * Prometheus text-format parser with its counters moving as messages are
 * sent, completed, rejected and left to lose their lock, and the JSON log's
 * access lines, which never hold a key, a token or a signature.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { formatConnectionString } from '../../lib/common/connection-string';
import { NoRetry } from '../../lib/common/retry';
import { generateKey } from '../../lib/common/sas';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { killAll, startCli, type StartedCli } from './cli-process';

async function get(port: number, p: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

type Parsed = ReturnType<typeof parsePrometheusTextFormat>;

async function scrape(port: number): Promise<Parsed> {
  const r = await get(port, '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(r.body);
}

/** The value of one sample (a counter or gauge with exactly these labels); 0 when absent. */
function value(m: Parsed, name: string, labels: Record<string, string> = {}): number {
  const family = m.find((f) => f.name === name);
  const hit = family?.metrics.find(
    (s) => Object.keys(labels).length === Object.keys(s.labels ?? {}).length && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v),
  );
  return hit && 'value' in hit ? Number(hit.value) : 0;
}

/** Scrapes until `ok` holds (the hub's timers and commits run in its own process); fails after the deadline. */
async function until(port: number, what: string, ok: (m: Parsed) => boolean, timeoutMs = 10_000): Promise<Parsed> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape(port);
    if (ok(m)) return m;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the c2d-hub admin listener and access log', function () {
  this.timeout(40_000);
  let dataDir: string;
  let cli: StartedCli | undefined;
  const clients: Array<{ close(): Promise<void> }> = [];
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-admin-'));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await cli?.stop();
    cli = undefined;
    killAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves /health and /ready, and /metrics whose counters move as messages are sent, completed, rejected and lose their lock', async () => {
    const deviceKey = generateKey();
    const serviceKey = generateKey();
    const wrongKey = generateKey();
    cli = await startCli(
      [
        '--data',
        dataDir,
        '--amqps',
        '0',
        '--mqtts',
        '0',
        '--https',
        'off',
        '--admin-port',
        '0',
        '--limit',
        'lockTimeoutMs=300',
        '--limit',
        'feedbackBatchWindowMs=100',
      ],
      {
        C2D_DEVICES: JSON.stringify([{ deviceId: 'd1', primaryKey: deviceKey }]),
        C2D_POLICIES: JSON.stringify([{ keyName: 'svc', rights: ['ServiceConnect'], primaryKey: serviceKey }]),
        C2D_LOG: 'json',
      },
    );
    const admin = cli.adminPort!;
    assert.ok(admin > 0, 'the admin port is in the started line');
    const health = await get(admin, '/health');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'alive');
    const ready = await get(admin, '/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready', reasons: [] });
    assert.equal((await get(admin, '/nope')).status, 404);

    const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'utf8');
    const service = ServiceClient.fromConnectionString(
      formatConnectionString({ HostName: `localhost:${cli.ports.amqps}`, SharedAccessKeyName: 'svc', SharedAccessKey: serviceKey }),
      { ca, retryPolicy: new NoRetry() },
    );
    clients.push(service);
    const device = DeviceClient.fromConnectionString(
      formatConnectionString({ HostName: `localhost:${cli.ports.amqps}`, DeviceId: 'd1', SharedAccessKey: deviceKey }),
      { transport: 'amqp', ca, retryPolicy: new NoRetry() },
    );
    clients.push(device);
    await service.open();
    await device.open();
    let m = await scrape(admin);
    assert.equal(value(m, 'c2d_sends_total'), 0);
    assert.equal(value(m, 'c2d_device_connections_total', { transport: 'amqp' }), 1);
    assert.ok(value(m, 'c2d_authentications_total', { transport: 'amqp', method: 'sas' }) >= 2, 'the device and the service put their tokens');

    for (const body of ['complete me', 'reject me', 'let my lock expire']) await service.send('d1', Buffer.from(body), { ack: 'full' });
    m = await scrape(admin);
    assert.equal(value(m, 'c2d_sends_total'), 3);
    assert.equal(value(m, 'c2d_queue_messages', { state: 'enqueued' }), 3);
    assert.equal(value(m, 'c2d_device_queue_messages', { device_id: 'd1', state: 'enqueued' }), 3, 'the deepest queue by name');

    const first = await device.receive({ timeoutMs: 5000 });
    await device.complete(first!);
    const second = await device.receive({ timeoutMs: 5000 });
    await device.reject(second!);
    const third = await device.receive({ timeoutMs: 5000 });
    assert.equal(third?.body.toString(), 'let my lock expire');
    m = await until(admin, 'the lock expiry', (x) => value(x, 'c2d_lock_expiries_total', { transport: 'amqp' }) === 1);
    assert.equal(value(m, 'c2d_deliveries_total', { transport: 'amqp' }), 3);
    assert.equal(value(m, 'c2d_settlements_total', { transport: 'amqp', outcome: 'completed' }), 1);
    assert.equal(value(m, 'c2d_settlements_total', { transport: 'amqp', outcome: 'rejected' }), 1);
    assert.equal(value(m, 'c2d_dead_letters_total', { reason: 'Rejected' }), 1);
    assert.equal(value(m, 'c2d_queue_messages', { state: 'enqueued' }), 1, 'the expired lock put the third message back');
    assert.equal(value(m, 'c2d_queue_messages', { state: 'locked' }), 0);
    assert.ok(value(m, 'c2d_devices_connected', { transport: 'amqp' }) === 1);
    assert.ok(value(m, 'c2d_connections_open') >= 2);
    m = await until(
      admin,
      'the feedback records',
      (x) => value(x, 'c2d_feedback_records_total', { status: 'Success' }) === 1 && value(x, 'c2d_feedback_records_total', { status: 'Rejected' }) === 1,
      20_000,
    );

    const commits = m.find((f) => f.name === 'c2d_store_commit_duration_seconds');
    assert.equal(commits?.type, 'HISTOGRAM');
    const histogram = commits!.metrics[0] as { count: string; sum: string };
    assert.equal(Number(histogram.count), value(m, 'c2d_store_commits_total'), 'one observation per commit');
    assert.ok(Number(histogram.count) >= 4 && Number(histogram.sum) > 0);
    assert.equal(m.find((f) => f.name === 'c2d_store_commit_group_size')?.type, 'HISTOGRAM');
    assert.ok(
      m.some((f) => f.name === 'nodejs_eventloop_lag_seconds'),
      'event-loop lag',
    );
    for (const f of m) if (f.name.startsWith('c2d_') && f.type === 'COUNTER') assert.match(f.name, /_total$/, `${f.name}: counters end in _total`);

    // Refused credentials are counted by reason, and logged with it, never with the key or token.
    const intruder = DeviceClient.fromConnectionString(
      formatConnectionString({ HostName: `localhost:${cli.ports.mqtts}`, DeviceId: 'd1', SharedAccessKey: wrongKey }),
      { transport: 'mqtt', ca, retryPolicy: new NoRetry() },
    );
    await assert.rejects(intruder.open(), (e: { code?: number }) => e.code === 401003);
    await intruder.close();
    m = await until(admin, 'the refused MQTT CONNECT', (x) => value(x, 'c2d_auth_failures_total', { transport: 'mqtt', reason: 'bad_signature' }) === 1);

    const lines = cli.out().trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = entries.find((e) => e.event === 'auth-refused' && e.transport === 'mqtt');
    assert.ok(refused, lines.join('\n'));
    assert.equal(refused.identity, 'd1');
    assert.equal(refused.reason, 'bad_signature');
    assert.equal(refused.code, 401003);
    assert.equal(refused.level, 'warn');
    assert.ok(entries.some((e) => e.event === 'auth-accepted' && e.transport === 'amqp' && e.identity === 'svc' && e.kind === 'service'));
    assert.ok(entries.some((e) => e.event === 'device-connected' && e.deviceId === 'd1'));
    for (const secret of [deviceKey, serviceKey, wrongKey, 'SharedAccessSignature', 'sig='])
      assert.ok(!cli.out().includes(secret) && !cli.err().includes(secret), `no ${secret} in the output`);
  });

  it("/ready is 503 with the reason while the store's disk is full, and 200 once it has room again (tmpfs; root only)", async function () {
    if (process.getuid?.() !== 0) return this.skip();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dataDir], { stdio: 'ignore' });
    } catch {
      return this.skip();
    }
    try {
      cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--admin-port', '0']);
      const admin = cli.adminPort!;
      assert.equal((await get(admin, '/ready')).status, 200);
      const filler = path.join(dataDir, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
      } catch (e) {
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const full = await get(admin, '/ready');
      assert.equal(full.status, 503);
      const report = JSON.parse(full.body) as { status: string; reasons: string[] };
      assert.equal(report.status, 'not ready');
      assert.match(report.reasons.join(' '), /does not take a 65536-byte write: the disk is full \(ENOSPC\)/);
      assert.equal((await get(admin, '/health')).status, 200, 'still alive');
      fs.rmSync(filler);
      assert.equal((await get(admin, '/ready')).status, 200, 'ready again once there is room');
      await cli.stop();
      cli = undefined;
    } finally {
      await cli?.stop();
      cli = undefined;
      execFileSync('umount', [dataDir]);
    }
  });
});
