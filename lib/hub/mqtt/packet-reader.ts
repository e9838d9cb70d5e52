/**
 * mqtt-packet parsers for every connection of the endpoint. A parser holds
 * state only inside a packet (bytes of a packet not yet complete), and its
 * settings change only when it parses a CONNECT. So connections past CONNECT
 * whose reads end on a packet boundary, nearly every read of a device, share
 * one parser; a connection owns one only while it is connecting or has part
 * of a packet buffered. An idle device then costs its socket and its session,
 * not a parser of its own (each is a stream with its own buffer list, about
 * 1.2 KB of heap).
 *
 * The shared parser is replaced (never reused) after it saw a CONNECT (its
 * settings are that packet's now) or an error, and it is handed to the
 * connection whose read ended inside a packet. Where a packet ends is the
 * caller's to say (the size scanner reads every fixed header): the parser's
 * own count of bytes left is not it, since it consumes a fixed header before
 * the rest of the packet is there.
 */
import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';
import { MQTT_3_1_1 } from './authenticate';

export interface PacketHandler {
  onPacket(packet: Packet): void;
  onParseError(error: Error): void;
}

/** A parser for one connection: each packet and error goes to `to`. */
export function ownParser(to: PacketHandler): Parser {
  const p = mqttPacket.parser({ protocolVersion: MQTT_3_1_1 });
  p.on('packet', (packet: Packet) => to.onPacket(packet));
  p.on('error', (e: Error) => to.onParseError(e));
  return p;
}

export class SharedPacketReader {
  private parser: Parser;
  /** The connection whose bytes the shared parser is reading now. */
  private reading: PacketHandler | undefined;
  private spoiled = false;

  constructor() {
    this.parser = this.fresh();
  }

  private fresh(): Parser {
    const p = mqttPacket.parser({ protocolVersion: MQTT_3_1_1 });
    p.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') this.spoiled = true; // its settings are that CONNECT now
      this.reading?.onPacket(packet);
    });
    p.on('error', (e: Error) => {
      this.spoiled = true;
      this.reading?.onParseError(e);
    });
    return p;
  }

  /**
   * Parses one read of `to`'s stream, which `endsOnBoundary` or not. Returns a
   * parser `to` must keep and feed its next bytes to when the read ended inside
   * a packet; undefined otherwise.
   */
  parse(chunk: Buffer, to: PacketHandler, endsOnBoundary: boolean): Parser | undefined {
    if (this.reading) {
      // Only if a packet handler read another socket synchronously: that read gets its own parser.
      const own = ownParser(to);
      own.parse(chunk);
      return endsOnBoundary ? undefined : own;
    }
    this.reading = to;
    try {
      this.parser.parse(chunk);
    } finally {
      this.reading = undefined;
    }
    if (endsOnBoundary && !this.spoiled) return undefined;
    const used = this.parser;
    const spoiled = this.spoiled;
    this.parser = this.fresh();
    this.spoiled = false;
    used.removeAllListeners();
    if (spoiled) return undefined; // the connection is being dropped
    used.on('packet', (packet: Packet) => to.onPacket(packet));
    used.on('error', (e: Error) => to.onParseError(e));
    return used;
  }
}
