/** What the MQTT server knows about one accepted stream, from accept to close. */
import type { Duplex } from 'node:stream';
import type { Cancel } from '../../common/clock';
import type { ClientCertificateInfo, DeviceSession, Principal } from '../api';
import type { C2DDelivery } from './deliver';
import type { Client } from './aedes-client';

export type MqttProtocol = 'mqtt' | 'mqtt-ws';

export interface MqttConnection {
  readonly stream: Duplex;
  readonly protocol: MqttProtocol;
  readonly clientCert?: ClientCertificateInfo;
  /** Set once CONNECT authenticated. */
  deviceId?: string;
  client?: Client;
  principal?: Principal;
  /** Disconnects the client when its SAS token expires. */
  cancelExpiry?: Cancel;
  /** The hub's record of this connection, from CONNECT accepted (clientReady) to close. */
  session?: DeviceSession;
  /** Present while the device's C2D subscription is being served. */
  delivery?: C2DDelivery;
  closed: boolean;
}
