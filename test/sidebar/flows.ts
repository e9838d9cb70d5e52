/**
 * The flow the sidebar tests run: an embedded hub with demo-device (MQTTS on
 * any free port, so it has a connection string), and a device flow that
 * takes each message, holds it HOLD_S seconds (locked), then settles it:
 * a message with property outcome=reject is rejected the first time its
 * message id is seen, everything else is completed. The receiver starts
 * disabled, so a message sent first stays pending until the test enables it.
 */
export const HUB_ID = 'sb-hub';
export const RECEIVER_ID = 'sb-recv';
export const HOLD_S = 3;

export function sidebarFlow(opts: { receiverEnabled: boolean }): object[] {
  const z = 'sb-tab';
  return [
    { id: z, type: 'tab', label: 'C2D sidebar' },
    {
      id: HUB_ID,
      type: 'c2d-hub',
      z,
      name: 'sidebar hub',
      hubName: 'localhost',
      host: '127.0.0.1',
      amqpsPort: '',
      mqttsPort: '0',
      httpsPort: '',
      dataDir: '',
      devices: 'demo-device',
      registerUnknown: false,
      storeSync: 'NORMAL',
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
    {
      id: 'sb-dev',
      type: 'c2d-hub-config',
      name: 'demo-device',
      target: 'embedded',
      hub: HUB_ID,
      role: 'device',
      deviceId: 'demo-device',
      transport: 'amqp',
      auth: 'connection-string',
      hostName: '',
      tenantId: '',
      clientId: '',
    },
    {
      id: RECEIVER_ID,
      type: 'c2d-receive',
      z,
      name: 'device',
      hub: 'sb-dev',
      format: 'auto',
      settle: 'manual',
      pollInterval: '5',
      d: !opts.receiverEnabled,
      x: 140,
      y: 140,
      wires: [['sb-decide']],
    },
    {
      id: 'sb-decide',
      type: 'function',
      z,
      name: 'reject once if asked',
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      func: [
        "const seen = flow.get('rejected') || [];",
        "if (msg.properties && msg.properties.outcome === 'reject' && !seen.includes(msg.messageId)) {",
        '  seen.push(msg.messageId);',
        "  flow.set('rejected', seen);",
        "  msg.action = 'reject';",
        "} else msg.action = 'complete';",
        'return msg;',
      ].join('\n'),
      x: 340,
      y: 140,
      wires: [['sb-hold']],
    },
    {
      id: 'sb-hold',
      type: 'delay',
      z,
      name: 'hold',
      pauseType: 'delay',
      timeout: String(HOLD_S),
      timeoutUnits: 'seconds',
      rate: '1',
      nbRateUnits: '1',
      rateUnits: 'second',
      randomFirst: '1',
      randomLast: '5',
      randomUnits: 'seconds',
      drop: false,
      allowrate: false,
      outputs: 1,
      x: 520,
      y: 140,
      wires: [['sb-ack']],
    },
    { id: 'sb-ack', type: 'c2d-ack', z, name: 'settle', hub: '', action: 'msg', x: 680, y: 140, wires: [[]] },
  ];
}
