/**
 * A test client that opens an AMQP connection the way azure-uamqp-c does
 * (the Azure IoT C SDK's AMQP stack; Python's uamqp), read from its
 * saslclientio.c and sasl_mssbcbs.c:
 *   -> SASL header (AMQP 3 1 0 0), sent at once, before the server's
 *   <- SASL header, sasl-mechanisms (must be an AMQP array of symbols that
 *      contains MSSBCBS exactly, else "Could not find desired SASL mechanism")
 *   -> sasl-init { mechanism: MSSBCBS } (no initial response, no hostname)
 *   <- sasl-outcome { code: 0 }
 *   -> AMQP header, open, begin ...; authorization follows by put-token on
 *      `$cbs` (cbs.c / amqp_management.c: links `$cbs-sender` and
 *      `$cbs-receiver`, a ulong message-id, reply-to `cbs`).
 * The SASL frames are encoded and decoded with rhea's codec; after the
 * outcome the socket goes to a rhea client connection for the AMQP part.
 */
import { once } from 'node:events';
import net from 'node:net';
import { create_container, type Connection, type EventContext, type Message, type Receiver, type Sender } from 'rhea';
import {
  CBS_ADDRESS,
  CBS_NAME,
  CBS_OPERATION,
  CBS_OPERATION_PUT_TOKEN,
  CBS_REPLY_TO,
  CBS_STATUS_CODE,
  CBS_TYPE,
  CBS_TYPE_SAS,
} from '../../lib/common/codec/amqp';

// rhea's frame codec (not part of its typed API; this test client only).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const frames = require('rhea/lib/frames.js') as {
  TYPE_SASL: number;
  write_header(buffer: Buffer, header: { protocol_id: number; major: number; minor: number; revision: number }): number;
  read_header(buffer: Buffer): { protocol_id: number };
  write_frame(frame: unknown): Buffer;
  sasl_frame(performative: unknown): unknown;
  sasl_init(fields: { mechanism: string }): unknown;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const types = require('rhea/lib/types.js') as {
  Reader: new (b: Buffer) => { read(): RawTyped };
};
interface RawTyped {
  type: { name: string };
  value: unknown;
  descriptor?: { value: unknown };
}

/** AMQP 1.0 §5.3.3: sasl-mechanisms 0x40, sasl-init 0x41, sasl-outcome 0x44. */
const SASL_MECHANISMS = 0x40;
const SASL_OUTCOME = 0x44;

export interface SaslExchange {
  /** The mechanisms frame's first field as encoded: its AMQP type and the symbols in it. */
  mechanisms: { type: string; elementTypes: string[]; names: string[] };
  outcomeCode: number;
  socket: net.Socket;
}

/** Reads whole frames off a socket until `count` have come, after an 8-byte protocol header when `withHeader`. */
function readFrames(socket: net.Socket, count: number, withHeader: boolean): Promise<{ header: Buffer; frames: RawTyped[] }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const out: RawTyped[] = [];
    let header: Buffer | undefined = withHeader ? undefined : Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (!header && buf.length >= 8) {
        header = buf.subarray(0, 8);
        buf = buf.subarray(8);
      }
      while (header && buf.length >= 4 && buf.length >= buf.readUInt32BE(0) && out.length < count) {
        const size = buf.readUInt32BE(0);
        const doff = buf[4]!;
        out.push(new types.Reader(buf.subarray(doff * 4, size)).read());
        buf = buf.subarray(size);
      }
      if (header && out.length === count) {
        socket.off('data', onData);
        socket.off('close', onClose);
        if (buf.length) socket.unshift(buf);
        resolve({ header, frames: out });
      }
    };
    const onClose = (): void => reject(new Error(`the server closed the socket after ${out.length} SASL frames`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function writeHeader(socket: net.Socket, protocolId: number): void {
  const b = Buffer.alloc(8);
  frames.write_header(b, { protocol_id: protocolId, major: 1, minor: 0, revision: 0 });
  socket.write(b);
}

/** Performs azure-uamqp-c's SASL MSSBCBS exchange on a fresh TCP connection. */
export async function saslMssbcbs(port: number, mechanism = 'MSSBCBS'): Promise<SaslExchange> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const mechanismsFrame = readFrames(socket, 1, true);
  writeHeader(socket, 3);
  const {
    header,
    frames: [mechs],
  } = await mechanismsFrame;
  if (frames.read_header(header).protocol_id !== 3) throw new Error('the server did not answer with the SASL header');
  if (mechs?.descriptor?.value !== SASL_MECHANISMS) throw new Error(`expected sasl-mechanisms, got ${String(mechs?.descriptor?.value)}`);
  const field = (mechs.value as RawTyped[])[0]!;
  const symbols = Array.isArray(field.value) ? (field.value as RawTyped[]) : [field];
  const outcomeFrame = readFrames(socket, 1, false);
  const names = symbols.map((s) => String(s.value));
  // azure-uamqp-c compares the names with strcmp and sends sasl-init only on an exact match.
  socket.write(frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism }))));
  const {
    frames: [outcome],
  } = await outcomeFrame.catch(() => ({ frames: [] as RawTyped[] }));
  const code = outcome?.descriptor?.value === SASL_OUTCOME ? Number((outcome.value as RawTyped[])[0]?.value) : -1;
  return { mechanisms: { type: field.type.name, elementTypes: symbols.map((s) => s.type.name), names }, outcomeCode: code, socket };
}

/** A rhea client connection on a socket whose SASL layer is done (it sends the AMQP header next). */
export async function amqpOver(socket: net.Socket): Promise<Connection> {
  const c = create_container({ id: 'uamqp-like' }).connect({
    host: '127.0.0.1',
    port: 0,
    reconnect: false,
    connect: (_port: number, _host: string, _opts: unknown, connected: () => void) => {
      setImmediate(connected);
      return socket;
    },
  } as never);
  c.on('error', () => undefined);
  c.on('connection_error', () => undefined);
  c.on('disconnected', () => undefined);
  await once(c, 'connection_open');
  return c;
}

/** `$cbs` as amqp_management.c attaches it: two links named `$cbs-sender` / `$cbs-receiver`, ulong message ids. */
export class ManagementCbs {
  private next = 0;
  private readonly waiting = new Map<number, (m: Message) => void>();
  private constructor(
    private readonly sender: Sender,
    receiver: Receiver,
  ) {
    receiver.on('message', (ctx: EventContext) => {
      const id = ctx.message?.correlation_id;
      if (typeof id === 'number') this.waiting.get(id)?.(ctx.message as Message);
    });
  }

  static async attach(c: Connection): Promise<ManagementCbs> {
    const sender = c.open_sender({ name: `${CBS_ADDRESS}-sender`, source: { address: CBS_ADDRESS }, target: { address: CBS_ADDRESS } });
    const receiver = c.open_receiver({ name: `${CBS_ADDRESS}-receiver`, source: { address: CBS_ADDRESS }, target: { address: CBS_ADDRESS }, autoaccept: true });
    await Promise.all([once(sender, 'sendable'), once(receiver, 'receiver_open')]);
    return new ManagementCbs(sender, receiver);
  }

  /** put-token as cbs_put_token: resolves the reply's status code (and its correlation-id, a number for a ulong). */
  async putToken(audience: string, token: string): Promise<{ status: unknown; correlationId: unknown }> {
    const id = this.next++;
    const reply = new Promise<Message>((resolve) => this.waiting.set(id, resolve));
    // A JS number as message-id is written as an AMQP ulong (rhea's message-id rule), as amqp_management.c sends it.
    this.sender.send({
      message_id: id,
      reply_to: CBS_REPLY_TO,
      application_properties: { [CBS_NAME]: audience, [CBS_OPERATION]: CBS_OPERATION_PUT_TOKEN, [CBS_TYPE]: CBS_TYPE_SAS },
      body: token,
    } as Message);
    const m = await reply;
    return { status: m.application_properties?.[CBS_STATUS_CODE], correlationId: m.correlation_id };
  }
}
