import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Ports handed out for tests are taken below Linux's ephemeral range (32768–60999 by default), from
 * 10000–29999: the kernel never gives those to a socket bound to port 0 or to an outgoing connection, so a
 * port found free here cannot be taken by such a socket (the stack's own, SIPp's, dynalite's) before the
 * process it is meant for binds it. RTP ranges of the tests start at 30000.
 */
const LOW = 10_000;
const HIGH = 30_000;
/** Ports this process handed out: not handed out twice (TCP and UDP alike: SIP binds both). */
const handedOut = new Set<number>();

async function freePort(free: (port: number) => Promise<boolean>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    if (await free(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${LOW}–${HIGH - 1}`);
}

/** In use (or not ours to bind): try another port. Anything else is a real error. */
function taken(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EADDRINUSE' || err.code === 'EACCES';
}

function tcpFree(port: number): Promise<boolean> {
  const srv = createServer();
  return new Promise((resolve, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => (taken(err) ? resolve(false) : reject(err)));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close();
      if (taken(err)) resolve(false);
      else reject(err);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A TCP port that was free a moment ago (and is free for UDP too, as SIP binds both). */
export function freeTcpPort(): Promise<number> {
  return freePort(async (p) => (await tcpFree(p)) && (await udpFree(p)));
}

/** A UDP port that was free a moment ago (and is free for TCP too, as SIP binds both). */
export function freeUdpPort(): Promise<number> {
  return freePort(async (p) => (await udpFree(p)) && (await tcpFree(p)));
}
