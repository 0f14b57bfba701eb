// The classic IVR: welcome, a menu, collect digits, goodbye. Point the tenant's callbackUrl at
// http://<host>:<PORT>/hooks and run: SIPMS_SIGNING_SECRET=whsec_… PORT=3000 node ivr-menu.js
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createCallbackHandler, ivr } from '@sipms/sdk';

const asked = new Map<string, 'menu' | 'customer'>(); // by session: what the caller was last asked

export const handler = createCallbackHandler({
  secrets: (process.env.SIPMS_SIGNING_SECRET ?? '').split(','), // two during a rotation: "new,old"
  handlers: {
    newCall: () => ({ action: 'ivr' }),
    getIvrCommand: ({ sessionId, dtmfParams }) => {
      const step = asked.get(sessionId);
      if (!step) {
        asked.set(sessionId, 'menu');
        return ivr()
          .say('Welcome to Example Corporation.')
          .say('For sales press 1. For support press 2.')
          .bargeIn()
          .dtmf({ maxDigits: 1, firstDigitTimeoutMs: 8000 });
      }
      if (step === 'menu' && dtmfParams?.digits === '2') {
        asked.set(sessionId, 'customer');
        return ivr()
          .say('Please enter your customer number, then the hash key.')
          .bargeIn()
          .dtmf({ maxDigits: 10, terminationKey: '#' });
      }
      const heard = dtmfParams?.digits
        ? `You entered ${dtmfParams.digits.split('').join(' ')}.`
        : 'We did not hear you.';
      return ivr().say(`${heard} Thank you for calling. Goodbye.`).hangup();
    },
    sessionCompleted: ({ sessionId, reason }) => {
      asked.delete(sessionId);
      console.log(`session ${sessionId} ended: ${reason}`);
    },
  },
});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  createServer(handler.node).listen(port, '127.0.0.1', () =>
    console.log(`listening on http://127.0.0.1:${port}/hooks`),
  );
}
