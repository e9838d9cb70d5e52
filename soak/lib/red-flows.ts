/**
 * The soak's Node-RED flows. Tab `e`: an embedded c2d-hub (in-process
 * clients, auto-settle) with inject -> c2d-send, three c2d-receive and a
 * c2d-feedback, plus the /soak/* routes the driver reads (the hub's stats go
 * through the c2d-hub node's `stats` action). Tab `n`: the same traffic over
 * the network to the c2d-hub command, through c2d-hub-config nodes with
 * connection strings (MQTT, AMQP and HTTPS devices), settled by c2d-ack
 * with a mix of complete, reject and abandon. Secrets go in `credentials`,
 * which the admin API moves to the credentials file.
 */

export interface RedFlowArgs {
  /** The embedded hub's data folder. */
  dataDir: string;
  /** Inject interval of each tab's sender, seconds. */
  injectS: number;
  network: {
    serviceConnectionString: string;
    /** red-n-0 (mqtt), red-n-1 (amqp), red-n-2 (http). */
    deviceConnectionStrings: [string, string, string];
    ca: string;
  };
}

export const RED_EMBEDDED_DEVICES = ['red-e-0', 'red-e-1', 'red-e-2'];
export const RED_NETWORK_DEVICES = ['red-n-0', 'red-n-1', 'red-n-2'];
const NETWORK_TRANSPORTS = ['mqtt', 'amqp', 'http'] as const;

type NodeDef = Record<string, unknown>;

const fn = (id: string, z: string, func: string, wires: string[][] = [[]]): NodeDef => ({
  id,
  type: 'function',
  z,
  name: id,
  func,
  outputs: 1,
  noerr: 0,
  initialize: '',
  finalize: '',
  libs: [],
  wires,
});

const makeFunc = (flow: string, devices: string[]): string => `
const p = global.get('soakProbe');
if (p.quiet) return null;
const devices = ${JSON.stringify(devices)};
const acks = ['none', 'positive', 'negative', 'full'];
msg.messageId = p.nextId('${flow}');
msg.deviceId = devices[Math.floor(Math.random() * devices.length)];
msg.ack = acks[Math.floor(Math.random() * acks.length)];
msg.payload = { t: Date.now(), id: msg.messageId };
return msg;`;

const errFunc = (flow: string): string => `
const p = global.get('soakProbe');
const e = msg.error || {};
const type = (e.source && e.source.type) || 'unknown';
const label = type + ': ' + String(e.message || '').slice(0, 90);
if (type === 'c2d-send') p.sendError('${flow}', label); else p.settleError('${flow}', label);
return null;`;

const gotFunc = (flow: string): string => `
global.get('soakProbe').received('${flow}', msg.messageId, msg.payload && msg.payload.t, msg.deliveryCount || 0);
return null;`;

const feedbackFunc = (flow: string): string => `
global.get('soakProbe').feedback('${flow}', msg.payload.originalMessageId, msg.payload.statusCode);
return null;`;

function embeddedTab(a: RedFlowArgs): NodeDef[] {
  const z = 'soak-e';
  const nodes: NodeDef[] = [
    { id: z, type: 'tab', label: 'soak: embedded hub' },
    {
      id: 'hub-e',
      z,
      type: 'c2d-hub',
      name: 'embedded',
      hubName: 'localhost',
      host: '127.0.0.1',
      // AMQPS on a free port: each redeploy binds and releases a listener too.
      amqpsPort: '0',
      mqttsPort: '',
      httpsPort: '',
      dataDir: a.dataDir,
      devices: RED_EMBEDDED_DEVICES.join(' '),
      storeSync: 'FULL',
      feedbackWindow: '1',
      wires: [['hub-e-out']],
    },
    { id: 'svc-e', type: 'c2d-hub-config', target: 'embedded', hub: 'hub-e', role: 'service' },
    ...RED_EMBEDDED_DEVICES.map((d, i) => ({ id: `dev-e-${i}`, type: 'c2d-hub-config', target: 'embedded', hub: 'hub-e', role: 'device', deviceId: d })),
    {
      id: 'tick-e',
      z,
      type: 'inject',
      props: [{ p: 'payload' }],
      repeat: String(a.injectS),
      crontab: '',
      once: true,
      onceDelay: '2',
      topic: '',
      payload: '',
      payloadType: 'date',
      wires: [['make-e']],
    },
    fn('make-e', z, makeFunc('e', RED_EMBEDDED_DEVICES), [['send-e']]),
    { id: 'send-e', z, type: 'c2d-send', hub: 'svc-e', wires: [['sent-e']] },
    fn('sent-e', z, "global.get('soakProbe').sent('e', msg.c2d.messageId);\nreturn null;"),
    ...RED_EMBEDDED_DEVICES.map((_, i) => ({
      id: `recv-e-${i}`,
      z,
      type: 'c2d-receive',
      hub: `dev-e-${i}`,
      settle: 'auto',
      format: 'auto',
      wires: [['got-e']],
    })),
    fn('got-e', z, gotFunc('e')),
    { id: 'fb-e', z, type: 'c2d-feedback', hub: 'svc-e', settle: 'auto', wires: [['fbk-e']] },
    fn('fbk-e', z, feedbackFunc('e')),
    { id: 'catch-e', z, type: 'catch', scope: null, uncaught: false, wires: [['err-e']] },
    fn('err-e', z, errFunc('e')),
    // The hub node's output: its events (counted) and the answers to the stats action (to the metrics route).
    fn('hub-e-out', z, "if (!msg.res) { global.get('soakProbe').hubEvent(msg.topic); return null; }\nreturn msg;", [['m-reply']]),
    { id: 'm-in', z, type: 'http in', url: '/soak/metrics', method: 'get', upload: false, swaggerDoc: '', wires: [['m-ask']] },
    fn('m-ask', z, "msg.action = 'stats';\nreturn msg;", [['hub-e']]),
    fn(
      'm-reply',
      z,
      "global.get('soakProbe').sample().then((s) => {\n  msg.payload = { process: s, hub: msg.payload };\n  node.send(msg);\n  node.done();\n});\nreturn;",
      [['m-out']],
    ),
    { id: 'm-out', z, type: 'http response', statusCode: '', headers: {}, wires: [] },
    { id: 'r-in', z, type: 'http in', url: '/soak/records', method: 'get', upload: false, swaggerDoc: '', wires: [['r-get']] },
    fn('r-get', z, "msg.payload = global.get('soakProbe').takeRecords();\nreturn msg;", [['r-out']]),
    { id: 'r-out', z, type: 'http response', statusCode: '', headers: {}, wires: [] },
    { id: 'c-in', z, type: 'http in', url: '/soak/control', method: 'post', upload: false, swaggerDoc: '', wires: [['c-set']] },
    fn(
      'c-set',
      z,
      "const p = global.get('soakProbe');\nif (typeof msg.payload.quiet === 'boolean') p.quiet = msg.payload.quiet;\nif (typeof msg.payload.draining === 'boolean') p.draining = msg.payload.draining;\nmsg.payload = { quiet: p.quiet, draining: p.draining };\nreturn msg;",
      [['c-out']],
    ),
    { id: 'c-out', z, type: 'http response', statusCode: '', headers: {}, wires: [] },
  ];
  return nodes;
}

function networkTab(a: RedFlowArgs): NodeDef[] {
  const z = 'soak-n';
  const ca = a.network.ca;
  return [
    { id: z, type: 'tab', label: 'soak: network hub' },
    {
      id: 'svc-n',
      type: 'c2d-hub-config',
      target: 'network',
      role: 'service',
      transport: 'amqp',
      auth: 'connection-string',
      credentials: { connectionString: a.network.serviceConnectionString, ca },
    },
    ...RED_NETWORK_DEVICES.map((deviceId, i) => ({
      id: `dev-n-${i}`,
      type: 'c2d-hub-config',
      target: 'network',
      role: 'device',
      deviceId,
      transport: NETWORK_TRANSPORTS[i],
      auth: 'connection-string',
      credentials: { connectionString: a.network.deviceConnectionStrings[i], ca },
    })),
    {
      id: 'tick-n',
      z,
      type: 'inject',
      props: [{ p: 'payload' }],
      repeat: String(a.injectS),
      crontab: '',
      once: true,
      onceDelay: '2',
      topic: '',
      payload: '',
      payloadType: 'date',
      wires: [['make-n']],
    },
    fn('make-n', z, makeFunc('n', RED_NETWORK_DEVICES), [['send-n']]),
    { id: 'send-n', z, type: 'c2d-send', hub: 'svc-n', wires: [['sent-n']] },
    fn('sent-n', z, "global.get('soakProbe').sent('n', msg.c2d.messageId);\nreturn null;"),
    ...RED_NETWORK_DEVICES.map((_, i) => ({
      id: `recv-n-${i}`,
      z,
      type: 'c2d-receive',
      hub: `dev-n-${i}`,
      settle: 'manual',
      format: 'auto',
      pollInterval: '1',
      wires: [['pick-n']],
    })),
    fn(
      'pick-n',
      z,
      `
const p = global.get('soakProbe');
p.received('n', msg.messageId, msg.payload && msg.payload.t, msg.deliveryCount || 0);
const r = Math.random();
// red-n-0 is the MQTT device: PUBACK (complete) is all it has.
msg.action = p.draining || msg.deviceId === '${RED_NETWORK_DEVICES[0]}' || r < 0.95 ? 'complete' : r < 0.98 ? 'reject' : 'abandon';
return msg;`,
      [['ack-n']],
    ),
    { id: 'ack-n', z, type: 'c2d-ack', action: 'msg', wires: [['acked-n']] },
    fn('acked-n', z, "global.get('soakProbe').settled('n', msg.messageId, msg.settlement.action);\nreturn null;"),
    { id: 'fb-n', z, type: 'c2d-feedback', hub: 'svc-n', settle: 'auto', wires: [['fbk-n']] },
    fn('fbk-n', z, feedbackFunc('n')),
    { id: 'catch-n', z, type: 'catch', scope: null, uncaught: false, wires: [['err-n']] },
    fn('err-n', z, errFunc('n')),
  ];
}

/** Node-RED tells flow nodes from config nodes by their x and y: flow nodes get a place on a grid. */
function placed(nodes: NodeDef[]): NodeDef[] {
  let i = 0;
  return nodes.map((n) => (n.type === 'tab' || n.z === undefined ? n : { ...n, x: 150 + 200 * (i % 6), y: 60 + 60 * Math.floor(i++ / 6) }));
}

export function soakFlows(a: RedFlowArgs): NodeDef[] {
  return placed([...embeddedTab(a), ...networkTab(a)]);
}
