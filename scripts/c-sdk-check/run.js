#!/usr/bin/env node
'use strict';
/*
 * The C-SDK check: builds the official Azure IoT C device SDK from a source folder you
 * give (a clone of azure-iot-sdk-c with its submodules), starts `c2d-hub` on a temporary
 * store, and runs a C2D round trip on each of the SDK's five transports with c2d_check.c
 * (our own program on the SDK's public API). One line per transport, PASS or FAIL with
 * why; exit status 1 when any failed. CI cannot run it (it reaches no git host), so it
 * lives beside the tests. See "The C-SDK check" in README.md.
 *
 *   node scripts/c-sdk-check/run.js <azure-iot-sdk-c folder> [options]
 */
const { spawn, spawnSync } = require('node:child_process');
const { Buffer } = require('node:buffer');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { setTimeout, clearTimeout } = require('node:timers');

const ROOT = path.resolve(__dirname, '..', '..');
const TRANSPORTS = ['mqtt', 'mqtt-ws', 'amqp', 'amqp-ws', 'http'];

const USAGE = `Usage: node scripts/c-sdk-check/run.js <azure-iot-sdk-c folder> [options]

Builds the Azure IoT C device SDK from <folder> (a clone with its submodules:
git clone --recursive https://github.com/Azure/azure-iot-sdk-c), starts c2d-hub on
a temporary store on IoT Hub's ports (5671, 8883, 443: the C SDK reaches no others;
443 needs root or CAP_NET_BIND_SERVICE) and runs a C2D round trip per transport.

Options:
  --build-dir <dir>   CMake build folder, kept for quicker reruns
                      [<tmp>/c2d-c-sdk-check-build]
  --transport <name>  only this transport; repeatable (${TRANSPORTS.join(', ')})
  --jobs <n>          parallel compile jobs [2]
  --timeout <s>       seconds per transport [60]
  --trace             the SDK's logtrace on, printed for a failing transport
  -h, --help          this text`;

function parseArgs(argv) {
  const opts = {
    sdk: process.env.C2D_C_SDK_DIR,
    buildDir: path.join(os.tmpdir(), 'c2d-c-sdk-check-build'),
    transports: [],
    jobs: 2,
    timeout: 60,
    trace: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') opts.help = true;
    else if (a === '--build-dir') opts.buildDir = path.resolve(value());
    else if (a === '--transport') {
      const t = value();
      if (!TRANSPORTS.includes(t)) throw new Error(`unknown transport '${t}' (one of ${TRANSPORTS.join(', ')})`);
      opts.transports.push(t);
    } else if (a === '--jobs') opts.jobs = Number(value());
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a === '--trace') opts.trace = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else opts.sdk = a;
  }
  if (opts.transports.length === 0) opts.transports = TRANSPORTS;
  if (!(opts.jobs >= 1)) throw new Error('--jobs needs a number of at least 1');
  if (!(opts.timeout > 0)) throw new Error('--timeout needs a number of seconds');
  return opts;
}

/** The folder must be an azure-iot-sdk-c tree with the submodules the device client builds from. */
function checkSdkFolder(sdk) {
  if (!sdk) throw new Error('name the azure-iot-sdk-c folder (or set C2D_C_SDK_DIR)');
  if (!fs.existsSync(path.join(sdk, 'iothub_client', 'inc', 'iothub_device_client_ll.h'))) {
    throw new Error(`${sdk} is not an azure-iot-sdk-c clone (no iothub_client/inc/iothub_device_client_ll.h)`);
  }
  const submodules = ['c-utility', 'uamqp', 'umqtt', 'deps/parson', 'deps/uhttp', 'deps/azure-macro-utils-c', 'deps/umock-c'];
  const missing = submodules.filter((s) => !fs.existsSync(path.join(sdk, s)) || fs.readdirSync(path.join(sdk, s)).length === 0);
  if (missing.length > 0) {
    throw new Error(`${sdk} lacks the submodule(s) ${missing.join(', ')}: run 'git submodule update --init --recursive' in it`);
  }
}

/** The SDK's version (its header) and commit (when the folder is a git checkout). */
function sdkIdentity(sdk) {
  let version = 'unknown';
  try {
    const header = fs.readFileSync(path.join(sdk, 'iothub_client', 'inc', 'iothub_client_version.h'), 'utf8');
    version = /IOTHUB_SDK_VERSION\s+"([^"]+)"/.exec(header)?.[1] ?? version;
  } catch {
    // no version header: the version stays unknown
  }
  const r = spawnSync('git', ['-C', sdk, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  return `${version}, commit ${r.status === 0 ? r.stdout.trim() : 'unknown (not a git checkout)'}`;
}

/** Configures (once) and builds c2d_check; the build log goes to a file, its tail to the error. */
function build(opts) {
  fs.mkdirSync(opts.buildDir, { recursive: true });
  const log = path.join(opts.buildDir, 'c2d-check-build.log');
  fs.writeFileSync(log, '');
  const run = (args) => {
    const fd = fs.openSync(log, 'a');
    const r = spawnSync('cmake', args, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    if (r.error) throw new Error(`cannot run cmake (${r.error.message}); install cmake, a C compiler, libssl-dev, libcurl4-openssl-dev and uuid-dev`);
    if (r.status !== 0) {
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-25).join('\n');
      throw new Error(`cmake ${args[0]} failed (full log: ${log}):\n${tail}`);
    }
  };
  // Configure only a new build folder (or one made for another SDK folder): the SDK's CMake
  // rewrites generated headers on every configure, which would recompile all of it.
  const cache = path.join(opts.buildDir, 'CMakeCache.txt');
  const sdkSetting = `AZURE_IOT_SDK_C:UNINITIALIZED=${path.resolve(opts.sdk)}`;
  const configured =
    fs.existsSync(cache) &&
    fs
      .readFileSync(cache, 'utf8')
      .split('\n')
      .some((l) => l.replace(/:PATH=|:STRING=/, ':UNINITIALIZED=') === sdkSetting);
  if (!configured) run(['-S', __dirname, '-B', opts.buildDir, `-DAZURE_IOT_SDK_C=${path.resolve(opts.sdk)}`, '-DCMAKE_BUILD_TYPE=Debug']);
  run(['--build', opts.buildDir, '--target', 'c2d_check', '--parallel', String(opts.jobs)]);
  const exe = path.join(opts.buildDir, 'c2d_check');
  if (!fs.existsSync(exe)) throw new Error(`the build made no ${exe} (log: ${log})`);
  return exe;
}

/** Resolves when `promise` does or after `ms`, whichever is first, leaving no timer behind. */
function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Starts bin/c2d-hub.js on a temporary store and resolves once its banner is out. */
async function startHub(dataDir) {
  const args = [path.join(ROOT, 'bin', 'c2d-hub.js'), '--data', dataDir, '--limit', 'feedbackBatchWindowMs=200'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const banner = await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d;
      if (/Press Ctrl\+C to stop/.test(out)) {
        child.stdout.off('data', onData);
        resolve(out);
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`c2d-hub exited (${code}) before it was ready: ${(err || out).trim()}`)));
  });
  child.stdout.resume();
  const service = /Service connection string[^\n]*\n\s*(\S+)/.exec(banner);
  const cert = /NODE_EXTRA_CA_CERTS=(\S+)/.exec(banner);
  if (!service || !cert) throw new Error(`c2d-hub's banner lacks a service connection string or certificate:\n${banner}`);
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { serviceConnectionString: service[1], certFile: cert[1], stop };
}

/** Feedback records by original message id, read as they come on one receiver. */
class FeedbackLog {
  constructor(service) {
    this.service = service;
    this.records = new Map();
  }

  async waitFor(messageId, deadline) {
    while (!this.records.has(messageId)) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      const batch = await this.service.receiveFeedback({ timeoutMs: Math.min(left, 2000) });
      if (batch) {
        for (const r of batch.records) this.records.set(r.originalMessageId, r);
        await batch.complete();
      }
    }
    return this.records.get(messageId);
  }
}

/** Runs c2d_check and turns its stdout into messages and status lines. */
function startDevice(exe, transport, connectionString, certFile, opts) {
  const args = [transport, certFile, String(opts.timeout + 30)];
  if (opts.trace) args.push('trace');
  const child = spawn(exe, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, C2D_CHECK_CONNECTION_STRING: connectionString } });
  const device = { child, messages: [], statuses: [], log: '', waiters: [], exit: null };
  const hex = (h) => Buffer.from(h ?? '', 'hex');
  let current = null;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, a, b] = line.split(' ');
    if (kind === 'status') device.statuses.push(`${a} ${b}`);
    else if (kind === 'message-id' || kind === 'correlation-id' || kind === 'body' || kind === 'property') {
      current ??= { properties: {} };
      if (kind === 'message-id') current.messageId = hex(a).toString('utf8');
      else if (kind === 'correlation-id') current.correlationId = hex(a).toString('utf8');
      else if (kind === 'body') current.body = hex(a);
      else current.properties[hex(a).toString('utf8')] = hex(b).toString('utf8');
    } else if (kind === 'end-message' && current) {
      device.messages.push(current);
      current = null;
    } else {
      // The SDK's own log lines (c-logging writes them to stdout).
      device.log = (device.log + line + '\n').slice(-40000);
    }
    for (const w of device.waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => {
    device.log = (device.log + d).slice(-40000);
  });
  device.exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      device.exit = signal ?? code;
      for (const w of device.waiters.splice(0)) w();
      resolve();
    }),
  );
  device.waitForMessage = async (messageId, deadline) => {
    for (;;) {
      const m = device.messages.find((x) => x.messageId === messageId);
      if (m || device.exit !== null || Date.now() >= deadline) return m ?? null;
      await within(new Promise((r) => device.waiters.push(r)), deadline - Date.now());
    }
  };
  device.stop = async () => {
    child.stdin.end();
    await within(device.exited, 10000);
    if (device.exit === null) {
      child.kill('SIGKILL');
      await device.exited;
    }
  };
  return device;
}

/** What is wrong with a received message, or null when it is what was sent. */
function mismatch(got, sent) {
  if (got.correlationId !== sent.correlationId) return `correlation id '${got.correlationId}', sent '${sent.correlationId}'`;
  if (!got.body.equals(sent.body)) return `body ${JSON.stringify(got.body.toString('utf8'))}, sent ${JSON.stringify(sent.body.toString('utf8'))}`;
  for (const [k, v] of Object.entries(sent.properties)) {
    if (got.properties[k] !== v) return `property '${k}' is ${got.properties[k] === undefined ? 'missing' : `'${got.properties[k]}'`}, sent '${v}'`;
  }
  return null;
}

/** One transport's round trip; resolves with a reason string when it failed, null when it passed. */
async function checkTransport(t, ctx) {
  const deviceId = `c-sdk-check-${t}`;
  const device = await ctx.service.createDevice({ deviceId });
  const key = device.authentication.symmetricKey.primaryKey;
  const connectionString = `HostName=${ctx.hostName};DeviceId=${deviceId};SharedAccessKey=${key}`;
  const outgoing = (n) => {
    const tag = crypto.randomBytes(4).toString('hex');
    return {
      messageId: `c-sdk-${t}-${n}-${tag}`,
      correlationId: `corr-${t}-${n}`,
      body: Buffer.from(`C2D check ${n} over ${t}: caf\u00e9 \u2713`, 'utf8'),
      properties: { transport: t, checkTag: tag, note: 'a=b&c d/e' },
    };
  };
  const send = (m) =>
    ctx.service.send(deviceId, { body: m.body, messageId: m.messageId, correlationId: m.correlationId, properties: m.properties, ack: 'full' });
  const deadline = Date.now() + ctx.opts.timeout * 1000;
  // The first waits in the device's queue before it connects, the second is sent while it is connected.
  const queued = outgoing('queued');
  await send(queued);
  const run = startDevice(ctx.exe, t, connectionString, ctx.certFile, ctx.opts);
  const why = (text) => {
    const status = run.statuses.length ? `; connection status: ${run.statuses.join(', ')}` : '';
    const exit = run.exit !== null ? `; c2d_check exited (${run.exit})` : '';
    return `${text}${status}${exit}`;
  };
  try {
    for (const m of [queued, null]) {
      const sent = m ?? outgoing('live');
      if (!m) await send(sent);
      const got = await run.waitForMessage(sent.messageId, deadline);
      if (!got) {
        const ids = run.messages.map((x) => `'${x.messageId}'`).join(', ');
        return why(
          `the device did not get the ${m ? 'queued' : 'live'} message within ${ctx.opts.timeout} s${ids ? ` (it got ${ids}, not '${sent.messageId}')` : ''}`,
        );
      }
      const bad = mismatch(got, sent);
      if (bad) return why(`the ${m ? 'queued' : 'live'} message arrived with ${bad}`);
      const record = await ctx.feedback.waitFor(sent.messageId, deadline);
      if (!record) return why(`no feedback for the ${m ? 'queued' : 'live'} message within ${ctx.opts.timeout} s (the hub did not see it completed)`);
      if (record.statusCode !== 'Success')
        return why(`feedback for the ${m ? 'queued' : 'live'} message is ${record.statusCode} (${record.description}), not Success`);
    }
    const after = await ctx.service.getDevice(deviceId);
    if (after.cloudToDeviceMessageCount !== 0) return why(`the hub still holds ${after.cloudToDeviceMessageCount} message(s) for the device`);
    return null;
  } finally {
    await run.stop();
    ctx.sdkLog = run.log;
  }
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    checkSdkFolder(opts.sdk);
  } catch (e) {
    console.error(e.message);
    return 2;
  }
  const lib = path.join(ROOT, 'dist', 'lib', 'index.js');
  if (!fs.existsSync(lib)) {
    console.error('dist/ is missing: run npm run build first');
    return 2;
  }
  console.log(`azure-iot-sdk-c ${sdkIdentity(opts.sdk)} (${path.resolve(opts.sdk)})`);
  console.log(`building c2d_check in ${opts.buildDir} ...`);
  let exe;
  try {
    exe = build(opts);
  } catch (e) {
    console.error(`FAIL build: ${e.message}`);
    return 1;
  }

  const { ServiceClient } = require(lib);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-c-sdk-check-'));
  let hub;
  let service;
  const results = [];
  const traces = [];
  try {
    hub = await startHub(dataDir);
    const ca = fs.readFileSync(hub.certFile);
    service = ServiceClient.fromConnectionString(hub.serviceConnectionString, { ca });
    await service.open();
    // The C SDK takes the hub name from HostName before its first dot and always uses IoT
    // Hub's ports, so its HostName is the banner's without a port.
    const hostName = /HostName=([^;]+)/.exec(hub.serviceConnectionString)[1].replace(/:\d+$/, '');
    const ctx = { opts, exe, service, hostName, certFile: hub.certFile, feedback: new FeedbackLog(service), traces };
    for (const t of opts.transports) {
      let reason;
      try {
        reason = await checkTransport(t, ctx);
      } catch (e) {
        reason = e.message;
      }
      results.push({ t, reason });
      if (reason && opts.trace && ctx.sdkLog) traces.push(`--- ${t}: the SDK's log ---\n${ctx.sdkLog}`);
      ctx.sdkLog = '';
      console.log(
        reason
          ? `FAIL ${t.padEnd(8)} ${reason}`
          : `PASS ${t.padEnd(8)} queued and live C2D messages received with their properties, accepted; feedback Success`,
      );
    }
  } catch (e) {
    console.error(`FAIL hub: ${e.message}`);
    return 1;
  } finally {
    if (service) await service.close().catch(() => {});
    if (hub) await hub.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  for (const t of traces) console.log(t);
  const failed = results.filter((r) => r.reason).length;
  console.log(failed ? `${failed} of ${results.length} transport(s) failed` : `all ${results.length} transport(s) passed`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
