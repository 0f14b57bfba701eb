import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { freeSippMediaPort, freeUdpPort } from '../src/ports.js';

/** Runs `script` in a child that hands out ports, prints them and stays alive until told to exit. */
async function handOutInChild(script: string): Promise<{ ports: number[]; exit: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../..', import.meta.url).pathname,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
  });
  while (!out.includes('\n')) {
    if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}) before handing out ports`);
    await once(child.stdout, 'data');
  }
  return {
    ports: JSON.parse(out) as number[],
    exit: async () => {
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

function bindUdp(port: number): Promise<() => void> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(() => s.close()));
  });
}

test("SIPp's media port: an even start with the three ports after it free too (SIPp binds P and P+2)", async () => {
  const start = await freeSippMediaPort();
  assert.equal(start % 2, 0);
  const closers = await Promise.all([0, 1, 2, 3].map((k) => bindUdp(start + k)));
  for (const close of closers) close();
  // None of the four is handed out again by this process.
  const later = await Promise.all(Array.from({ length: 50 }, () => freeUdpPort()));
  for (const p of later) assert.ok(p < start || p > start + 3, `port ${p} inside the claimed block ${start}`);
});

test('ports handed out by live parallel test processes never overlap (claims across processes)', async () => {
  // Each child keeps its claims while alive (as a test file does while its stack uses the ports).
  const script = `
    import { freeUdpPort } from './integ-tests/src/ports.ts';
    const ports = [];
    for (let i = 0; i < 300; i++) ports.push(await freeUdpPort());
    console.log(JSON.stringify(ports));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const children = await Promise.all([1, 2, 3].map(() => handOutInChild(script)));
  try {
    const all = children.flatMap((c) => c.ports);
    assert.equal(all.length, 900);
    assert.equal(new Set(all).size, all.length, 'a port was handed out to two live processes');
  } finally {
    await Promise.all(children.map((c) => c.exit()));
  }
});
