/** Our DeviceClient (or the in-process client) as a FaultDevice: the fault request through sendEvent. */
import { faultRequestProperties, type FaultRequest } from '../../lib/common/fault-injection';
import type { DeviceConnection } from '../../lib/client/types';
import type { DeviceMessage } from '../../lib/common/message';
import { Inbox, type Arrival, type FaultDevice } from './scenario';

export class OurDevice implements FaultDevice {
  readonly inbox = new Inbox<Arrival>();

  constructor(readonly client: DeviceConnection) {
    client.on('message', (m: DeviceMessage) => this.inbox.push({ messageId: String(m.messageId), complete: () => client.complete(m) }));
  }

  requestFault(r: FaultRequest): Promise<void> {
    return this.client.sendEvent(Buffer.from('fault'), faultRequestProperties(r));
  }
}
