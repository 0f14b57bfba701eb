import { createSocket } from 'node:dgram';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports handed out for tests are taken below Linux's ephemeral range (32768–60999 by default), from
 * 10000–29999: the kernel never gives those to a socket bound to port 0 or to an outgoing connection, so a
 * port found free here cannot be taken by such a socket (the stack's own, SIPp's, dynalite's) before the
 * process it is meant for binds it. RTP ranges of the tests start at 30000.
 */
const LOW = 10_000;
const HIGH = 30_000;
/**
 * The Fetch standard's "bad ports" in that range: `fetch` refuses them ("bad port"), and an API or webhook
 * port handed out there failed a benchmark's sign-up.
 */
const FETCH_BAD_PORTS = new Set([10080]);
/** Ports this process handed out: not handed out twice (TCP and UDP alike: SIP binds both). */
const handedOut = new Set<number>();
/**
 * Test files run as parallel processes: a port one of them handed out (and whose owner has not bound it
 * yet) must not be handed out by another. Each hand-out is claimed by a lock file holding the claimer's pid;
 * a claim whose process is gone is stale and taken over.
 */
const CLAIMS = join(tmpdir(), 'sipms-test-ports');
mkdirSync(CLAIMS, { recursive: true });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, not ours to signal
  }
}

/** Claims `port` for this process across test processes; false when a live process holds it. */
function claim(port: number): boolean {
  const file = join(CLAIMS, String(port));
  // The claim appears with its pid in it (written aside, then linked): a claim created empty and written
  // after was read in that gap by another process as half-written, taken over, and the port handed out twice.
  const draft = join(CLAIMS, `.${port}.${process.pid}`);
  const fd = openSync(draft, 'w');
  writeSync(fd, String(process.pid));
  closeSync(fd);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(draft, file);
        handedOut.add(port);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(file, 'utf8'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // released meanwhile: try again
      }
      if (holder === process.pid || (Number.isInteger(holder) && holder > 0 && alive(holder))) return false;
      try {
        unlinkSync(file); // stale: its process is gone
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return false;
  } finally {
    unlinkSync(draft);
  }
}

/** `count` consecutive ports from a random start (a multiple of `align`), all claimed, all free. */
async function freePorts(count: number, align: number, free: (port: number) => Promise<boolean>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const start = LOW + align * Math.floor((Math.random() * (HIGH - LOW - count)) / align);
    const ports = Array.from({ length: count }, (_, k) => start + k);
    if (ports.some((p) => handedOut.has(p) || FETCH_BAD_PORTS.has(p))) continue;
    const claimed: number[] = [];
    for (const p of ports) {
      if (!claim(p)) break;
      claimed.push(p);
    }
    let ok = claimed.length === count;
    for (const p of ports) if (ok && !(await free(p))) ok = false;
    if (ok) return start;
    // Not usable: give back what was claimed (it stays in handedOut only if kept).
    for (const p of claimed) {
      handedOut.delete(p);
      unlinkSync(join(CLAIMS, String(p)));
    }
  }
  throw new Error(`no ${count} free consecutive port(s) found in ${LOW}–${HIGH - 1}`);
}

function freePort(free: (port: number) => Promise<boolean>): Promise<number> {
  return freePorts(1, 1, free);
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

/**
 * SIPp's media port (`-mp P`): SIPp binds P for audio and P+2 for video (and their RTCP neighbours), so all
 * four are claimed. An even start, as RTP wants.
 */
export function freeSippMediaPort(): Promise<number> {
  return freePorts(4, 2, udpFree);
}
