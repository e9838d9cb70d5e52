/**
 * Node status in the core MQTT convention: green dot connected, yellow ring
 * connecting or retrying, red ring disconnected or failed (with the reason).
 * Texts are the core i18n keys so the editor translates them.
 */
export type ConnectionState = 'connected' | 'connecting' | 'disconnected' | 'error';

export interface NodeStatusLike {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export function statusFor(state: ConnectionState, reason?: string): NodeStatusLike {
  switch (state) {
    case 'connected':
      return { fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' };
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: reason ? `retrying: ${reason}` : 'node-red:common.status.connecting' };
    case 'error':
      return { fill: 'red', shape: 'ring', text: reason ?? 'node-red:common.status.error' };
    default:
      return { fill: 'red', shape: 'ring', text: reason ?? 'node-red:common.status.disconnected' };
  }
}
