import type { CallDialog, InboundCall, OutboundDialog } from '../../src/ports/signaling.js';
import { SignalingError } from '../../src/ports/signaling.js';
import { BuiltinSignaling } from '../../src/sip/builtin/builtin-signaling.js';
import { callOutcome, FakeSignaling } from '../kit/signaling.js';
import {
  type CalleeBehaviour,
  type RemoteCall,
  type SignalingPortUnderTest,
  signalingPortContract,
} from './signaling-port.contract.js';

// SignalingPort: the built-in SIP stack over UDP on loopback, with a second built-in stack as the far end
// (the callee of calls placed, and the remote caller of inbound INVITEs); and the kit's fake.
// T1 = 50 ms keeps retransmission and transaction timers short.
const TIMERS = { t1Ms: 50, t2Ms: 400, t4Ms: 200 };

signalingPortContract('BuiltinSignaling over UDP', async () => {
  const signaling = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS, transports: ['udp'] });
  const peer = new BuiltinSignaling({ bindHost: '127.0.0.1', port: 0, timers: TIMERS, transports: ['udp'] });
  const behaviours = new Map<string, CalleeBehaviour>();
  const peerDialogs: CallDialog[] = [];
  await peer.start((call: InboundCall) => {
    const b = behaviours.get(call.requestUser);
    if (!b) return call.reject(404);
    if (b.kind === 'reject') return call.reject(b.status);
    call.progress(180);
    if (b.kind === 'answer') {
      call.answer(b.sdp).then(
        (d) => peerDialogs.push(d),
        () => undefined,
      );
    }
  });
  let n = 0;
  return {
    signaling,
    callee(behaviour) {
      const user = `callee-${++n}`;
      behaviours.set(user, behaviour);
      return `sip:${user}@127.0.0.1:${peer.advertised.port}`;
    },
    invite({ from, to, sdp }): RemoteCall {
      // The Request-URI (and To) as a tenant's caller dials it; sent to the port under test as the proxy.
      const placed = peer.placeCall({
        target: to,
        outboundProxy: `127.0.0.1:${signaling.advertised.port}`,
        from,
        sdp,
        transport: 'udp',
      });
      const final = placed.then(
        (d: OutboundDialog) => ({ status: 200, sdp: d.remoteSdp }),
        (err: unknown) => {
          if (err instanceof SignalingError && err.code === 'rejected' && err.status) return { status: err.status };
          throw err;
        },
      );
      return {
        final,
        async bye() {
          await (await placed).hangup();
        },
      };
    },
    async close() {
      await peer.stop();
    },
  } satisfies SignalingPortUnderTest;
});

signalingPortContract('FakeSignaling (test kit)', () => {
  const signaling = new FakeSignaling();
  return {
    signaling,
    callee(behaviour) {
      signaling.script(
        behaviour.kind === 'reject'
          ? callOutcome.reject(behaviour.status)
          : behaviour.kind === 'ring'
            ? callOutcome.noAnswer({ progress: [{ status: 180 }] })
            : callOutcome.answer({ sdp: behaviour.sdp, progress: [{ status: 180 }] }),
      );
      return 'sip:callee@192.0.2.20';
    },
    invite({ from, to, user, sdp }): RemoteCall {
      const call = signaling.incoming({ from, to, requestUri: `sip:${user}@acme.sip.test`, sdp });
      return {
        final: call.finalResponse.then((r) =>
          r.status < 300 ? { status: r.status, sdp: r.sdp! } : { status: r.status },
        ),
        async bye() {
          call.dialog!.remoteBye();
        },
      };
    },
  } satisfies SignalingPortUnderTest;
});
