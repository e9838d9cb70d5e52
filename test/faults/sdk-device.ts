/**
 * The official Node device SDK (azure-iot-device with a transport) as a
 * FaultDevice: C2D into an Inbox, the fault request sent as the SDK's own e2e
 * tests build it (Message with AzIoTHub_FaultOperation* properties; the delay
 * as a number, which AMQP carries as an int).
 */
import { Client, Message } from 'azure-iot-device';
import { NoRetry } from 'azure-iot-common';
import { FAULT_PROPERTIES, type FaultRequest } from '../../lib/common/fault-injection';
import type { Hub } from '../../lib/hub';
import { Inbox, type Arrival, type FaultDevice } from './scenario';

type SdkClient = InstanceType<typeof Client>;
type SdkMessage = InstanceType<typeof Message>;

export class SdkDevice implements FaultDevice {
  readonly inbox = new Inbox<Arrival>();
  readonly client: SdkClient;
  /** `disconnect` events, as the SDK emits them. */
  readonly disconnects: unknown[] = [];
  readonly errors: Error[] = [];
  readonly settlesOnArrival: boolean;
  private readonly onMessage = (m: SdkMessage): void => {
    this.inbox.push({
      messageId: String(m.messageId),
      complete: () => new Promise<void>((resolve, reject) => this.client.complete(m, (e?: Error) => (e ? reject(e) : resolve()))),
    });
  };

  /** `mqtt`: the SDK's mqtt.js acknowledges each PUBLISH itself, so complete() settles nothing more. */
  constructor(connectionString: string, transport: unknown, retry: 'none' | 'default', mqtt = false) {
    this.settlesOnArrival = mqtt;
    this.client = Client.fromConnectionString(connectionString, transport as never);
    if (retry === 'none') this.client.setRetryPolicy(new NoRetry());
    this.client.on('error', (e: Error) => this.errors.push(e));
    this.client.on('disconnect', (d: unknown) => this.disconnects.push(d));
  }

  /**
   * Opens and subscribes. The SDK attaches its C2D link in the background and offers no way to
   * wait for it (a close() while it attaches waits out its 45 s rundown): with `hub`, one C2D
   * message goes round first, so the link is up when open() resolves.
   */
  async open(ca: string, hub?: { hub: Hub; deviceId: string }): Promise<void> {
    await this.client.setOptions({ ca, http: { receivePolicy: { interval: 0.1 } } } as never);
    await this.client.open();
    this.client.on('message', this.onMessage);
    if (hub) {
      await hub.hub.send(hub.deviceId, { body: Buffer.from('ready'), messageId: `ready-${hub.deviceId}` });
      await (await this.inbox.next(15_000, 'the ready message')).complete();
    }
  }

  /** After a `disconnect` (NoRetry): open again, and subscribe again (the SDK re-enables C2D only on its own retries). */
  async reopen(): Promise<void> {
    await this.client.open();
    this.client.removeListener('message', this.onMessage);
    this.client.on('message', this.onMessage);
  }

  /** Resolves at the next `disconnect` event. */
  nextDisconnect(): Promise<unknown> {
    return new Promise((resolve) => this.client.once('disconnect', resolve));
  }

  requestFault(r: FaultRequest): Promise<void> {
    const m = new Message('');
    m.properties.add(FAULT_PROPERTIES.type, r.type);
    if (r.closeReason !== undefined) m.properties.add(FAULT_PROPERTIES.closeReason, r.closeReason);
    if (r.delayInSecs !== undefined) m.properties.add(FAULT_PROPERTIES.delayInSecs, r.delayInSecs as never);
    if (r.durationInSecs !== undefined) m.properties.add(FAULT_PROPERTIES.durationInSecs, r.durationInSecs as never);
    return new Promise((resolve, reject) => this.client.sendEvent(m, (e?: Error) => (e ? reject(e) : resolve())));
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
  }
}
