import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '@sipms/shared/util/logger';
import { decodeRelayPacket, type RelayPacket } from './relay-packet.js';

/** Where a node's conference relay socket is (advertised in its heartbeat). */
export interface RelayAddress {
  host: string;
  port: number;
}

/** One admitted leg: the only address its datagrams may come from, and who gets them. */
export interface RelayLeg {
  peer: RelayAddress;
  onPacket(packet: RelayPacket): void;
}

export interface RelayDrops {
  /** Not a relay packet: too short or long, another version or type, a control that is not a JSON object. */
  malformed: number;
  /** A token no leg on this node has (never admitted, or already gone). */
  unknownLeg: number;
  /** A known token from another address than the one admitted. */
  wrongAddress: number;
}

/**
 * The admission check of every datagram arriving at the relay (hostile by default): it must parse, name a leg
 * this node admitted, and come from the address that leg was admitted for. Anything else is dropped and
 * counted; nothing reaches a conference before passing here.
 */
export class RelayLegs {
  private readonly legs = new Map<string, RelayLeg>();
  readonly drops: RelayDrops = { malformed: 0, unknownLeg: 0, wrongAddress: 0 };

  get size(): number {
    return this.legs.size;
  }

  /** False when the token is already in use (the caller picks another or refuses). */
  add(token: string, leg: RelayLeg): boolean {
    if (this.legs.has(token)) return false;
    this.legs.set(token, leg);
    return true;
  }

  remove(token: string, leg?: RelayLeg): void {
    if (!leg || this.legs.get(token) === leg) this.legs.delete(token);
  }

  /** The packet and its leg when the datagram is admitted, else undefined (counted in `drops`). */
  admit(data: Buffer, from: RelayAddress): { leg: RelayLeg; packet: RelayPacket } | undefined {
    const packet = decodeRelayPacket(data);
    if (typeof packet === 'string') {
      this.drops.malformed++;
      return undefined;
    }
    const leg = this.legs.get(packet.token);
    if (!leg) {
      this.drops.unknownLeg++;
      return undefined;
    }
    if (leg.peer.port !== from.port || normalHost(leg.peer.host) !== normalHost(from.host)) {
      this.drops.wrongAddress++;
      return undefined;
    }
    return { leg, packet };
  }

  /** Hands an admitted datagram to its leg; false when it was dropped. */
  deliver(data: Buffer, from: RelayAddress): boolean {
    const admitted = this.admit(data, from);
    if (!admitted) return false;
    admitted.leg.onPacket(admitted.packet);
    return true;
  }
}

/** `::ffff:10.0.0.5` (a dual-stack socket's view of an IPv4 peer) is `10.0.0.5`. */
function normalHost(host: string): string {
  return host.startsWith('::ffff:') ? host.slice(7) : host;
}

/** How often the drop counters are logged while they grow. */
const DROP_LOG_MS = 10_000;

/**
 * This node's conference relay: one UDP socket on the node's private address (CONFERENCE_RELAY_HOST/PORT) for
 * every node-to-node conference leg, hosted here or joined from here (docs/conferences.md, "Across nodes").
 */
export class ConferenceRelay {
  readonly legs = new RelayLegs();
  private dropsLogged = 0;
  private readonly dropTimer: NodeJS.Timeout;

  private constructor(
    private readonly socket: Socket,
    readonly address: RelayAddress,
    private readonly logger: Logger,
  ) {
    socket.on('message', (data, rinfo) => {
      this.legs.deliver(data, { host: rinfo.address, port: rinfo.port });
    });
    socket.on('error', (err) => logger.warn({ err }, 'conference relay socket error'));
    this.dropTimer = setInterval(() => this.logDrops(), DROP_LOG_MS);
    this.dropTimer.unref();
  }

  /** Binds the socket; port 0 takes any free port (the heartbeat advertises the one bound). */
  static open(host: string, port: number, logger: Logger): Promise<ConferenceRelay> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        const bound = socket.address();
        resolve(new ConferenceRelay(socket, { host, port: bound.port }, logger));
      });
    });
  }

  send(to: RelayAddress, data: Buffer): void {
    this.socket.send(data, to.port, to.host, (err) => {
      if (err) this.logger.debug({ err, to }, 'conference relay send failed');
    });
  }

  private logDrops(): void {
    const { malformed, unknownLeg, wrongAddress } = this.legs.drops;
    const total = malformed + unknownLeg + wrongAddress;
    if (total === this.dropsLogged) return;
    this.dropsLogged = total;
    this.logger.info({ ...this.legs.drops, legs: this.legs.size }, 'conference relay dropped datagrams');
  }

  close(): Promise<void> {
    clearInterval(this.dropTimer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
