// Stand-in for the media node in the boot rehearsal (run.ts), started by the systemctl shim when the boot script
// starts sipms-media-node.service: systemd is not PID 1 in the chroot, and the real node needs AWS itself. It reads
// the environment file the script wrote, answers SIP OPTIONS on SIP_HOST:SIP_PORT with 200 as the node does, and
// tells the stub it started, which then reports this node's heartbeat in the registry table. Run by the chroot's
// own node (the one the script installed).
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

const env = Object.fromEntries(
  readFileSync('/etc/sipms/media-node.env', 'utf8')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
const stub = readFileSync('/etc/sipms-rehearsal/stub-url', 'utf8').trim();
const socket = createSocket('udp4');
socket.on('message', (msg, from) => {
  const lines = msg.toString().split('\r\n');
  if (!lines[0]?.startsWith('OPTIONS ')) return;
  const keep = lines.filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l));
  const reply = ['SIP/2.0 200 OK', ...keep, 'Allow: INVITE, ACK, BYE, CANCEL, OPTIONS', 'Content-Length: 0', '', ''];
  socket.send(reply.join('\r\n'), from.port, from.address);
});
socket.bind(Number(env.SIP_PORT), env.SIP_HOST, async () => {
  console.log(`media node stand-in: answering OPTIONS on ${env.SIP_HOST}:${env.SIP_PORT} for ${env.NODE_ID}`);
  await fetch(`${stub}/record/media-node-stand-in`, { method: 'POST', body: `started\0${env.NODE_ID}\0` });
});
// Never outlive a rehearsal, even if its namespace were not torn down.
setTimeout(() => process.exit(0), 15 * 60_000).unref();
