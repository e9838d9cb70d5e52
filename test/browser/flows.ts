/**
 * The flow the edit-dialog test starts from: one node of every type on the
 * embedded hub (in-process, no ports, no keys), so it deploys as it is.
 */
export interface FlowNode {
  id: string;
  type: string;
  hub?: string;
  [k: string]: unknown;
}

const z = 'ed-tab';
export const EDIT_FLOW: FlowNode[] = [
  { id: z, type: 'tab', label: 'C2D edit dialogs' },
  {
    id: 'ed-hub',
    type: 'c2d-hub',
    z,
    name: '',
    hubName: 'localhost',
    host: '127.0.0.1',
    amqpsPort: '',
    mqttsPort: '',
    httpsPort: '',
    dataDir: '',
    devices: 'demo-device',
    registerUnknown: false,
    queueDepth: '50',
    ttl: '3600',
    maxDeliveryCount: '10',
    lockTimeout: '60',
    feedbackTtl: '3600',
    feedbackWindow: '1',
    x: 140,
    y: 60,
    wires: [[]],
  },
  { id: 'ed-send', type: 'c2d-send', z, name: '', hub: 'ed-svc', deviceId: 'demo-device', ack: 'full', x: 140, y: 120, wires: [[]] },
  { id: 'ed-recv', type: 'c2d-receive', z, name: '', hub: 'ed-dev', format: 'auto', settle: 'manual', pollInterval: '5', x: 140, y: 180, wires: [['ed-ack']] },
  { id: 'ed-ack', type: 'c2d-ack', z, name: '', hub: '', action: 'complete', x: 360, y: 180, wires: [[]] },
  { id: 'ed-fb', type: 'c2d-feedback', z, name: '', hub: 'ed-svc', settle: 'auto', x: 140, y: 240, wires: [[]] },
  {
    id: 'ed-svc',
    type: 'c2d-hub-config',
    name: 'backend',
    target: 'embedded',
    hub: 'ed-hub',
    role: 'service',
    deviceId: '',
    transport: 'amqp',
    auth: 'connection-string',
    hostName: '',
    tenantId: '',
    clientId: '',
  },
  {
    id: 'ed-dev',
    type: 'c2d-hub-config',
    name: 'demo-device',
    target: 'embedded',
    hub: 'ed-hub',
    role: 'device',
    deviceId: 'demo-device',
    transport: 'amqp',
    auth: 'connection-string',
    hostName: '',
    tenantId: '',
    clientId: '',
  },
];
