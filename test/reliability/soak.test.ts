/**
 * The soak harness (`npm run soak`) in its ci profile, for 3 minutes, as a
 * correctness check: the `c2d-hub` command in its own process, device fleets
 * over MQTT, AMQP and HTTPS that churn (closed and cut) and renew 2-minute
 * tokens, a backend with mixed acks and TTLs filling sleepy devices' queues,
 * a feedback receiver that abandons some batches, and a Node-RED redeployed
 * every minute. Judged: every accepted send accounted for and agreeing with
 * the hub's counters and feedback, no completed message delivered again
 * (except across a dropped connection or a lock expiry), no unhandled error
 * in any process or log. Not judged: RSS, latency and other timing criteria
 * (the harness prints them; a loaded CI machine says nothing about them).
 * Ports: all chosen by the OS (port 0), none of the compat suite's fixed ones.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Criterion } from '../../soak/lib/criteria';
import type { Account } from '../../soak/lib/accounting';

const RUN = path.resolve(__dirname, '../../soak/run.js');

interface Result {
  ok: boolean;
  redeploys: number;
  criteria: Criterion[];
  account: Account;
  checks: { name: string; harness: number; hub: number; ok: boolean }[];
  tally: Record<string, { count: number; examples: string[] }>;
}

function runSoak(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, '--minutes', '3', '--profile', 'ci', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

const count = (r: Result, re: RegExp): number =>
  Object.entries(r.tally)
    .filter(([k]) => re.test(k))
    .reduce((a, [, v]) => a + v.count, 0);

describe('soak: 3 minutes of the ci profile (accounting and errors; timing not judged)', function () {
  this.timeout(12 * 60_000);
  let out: string | undefined;
  let result: Result;
  let output: string;

  before(async function () {
    if (process.env.C2D_SOAK === '0') {
      console.log('      skipped: C2D_SOAK=0 (the 3-minute soak runs by default)');
      this.skip();
    }
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-soak-test-'));
    const r = await runSoak(out);
    output = r.output;
    const file = path.join(out, 'result.json');
    assert.ok(fs.existsSync(file), `the soak wrote no result (exit ${String(r.code)}):\n${output.slice(-4000)}`);
    result = JSON.parse(fs.readFileSync(file, 'utf8')) as Result;
  });

  after(() => {
    // Kept when a test failed, for its report and logs.
    if (out === undefined) return;
    if (this.tests.every((t) => t.state === 'passed')) fs.rmSync(out, { recursive: true, force: true });
    else console.log(`    soak output kept in ${out}`);
  });

  it('exercised churn, token renewal, full queues, lock expiries, feedback abandon and Node-RED redeploys', () => {
    const seen = {
      'connections closed by churn': count(result, /churn: closed cleanly/),
      'connections cut by churn': count(result, /churn: connections cut/),
      'tokens renewed': count(result, /token renewed/),
      '403004 (full queues)': result.account.refusedQueueFull,
      'redeliveries (abandon, lock expiry, dropped connection)': count(result, /redelivered \(abandoned, lock expired/),
      'feedback batches abandoned': count(result, /feedback batches abandoned/),
      'Node-RED redeploys': result.redeploys,
      'accepted sends': result.account.accepted,
    };
    const missing = Object.entries(seen).filter(([, n]) => !(n > 0));
    assert.deepEqual(missing, [], `not exercised: ${JSON.stringify(seen)}`);
  });

  it('accounts for every accepted send, and the hub and the feedback agree', () => {
    const c = result.criteria.find((x) => x.name.startsWith('every accepted send is accounted for'));
    assert.ok(c, 'no accounting criterion in the result');
    assert.equal(result.account.fates.lost, 0, c.detail);
    assert.deepEqual(result.account.violations, {});
    assert.deepEqual(
      result.checks.filter((x) => !x.ok),
      [],
    );
    assert.ok(c.met, c.detail);
  });

  it('delivers no completed message again except across a dropped connection or a lock expiry', () => {
    assert.deepEqual(
      Object.keys(result.tally).filter((k) => k.includes('violation')),
      [],
    );
  });

  it('has no unhandled rejection, uncaught exception or unexpected error in any process or log', () => {
    const c = result.criteria.find((x) => x.name.startsWith('no unhandled rejection'));
    assert.ok(c, 'no error criterion in the result');
    assert.ok(c.met, c.detail);
  });

  it('judges every non-timing criterion met, and exits 0', () => {
    const notMet = result.criteria.filter((c) => !c.timing && !c.met).map((c) => `${c.name}: ${c.detail}`);
    assert.deepEqual(notMet, []);
    assert.equal(result.ok, true, output.slice(-4000));
  });
});
