// Forward a caller to an agent, two ways.
// FORWARD_MODE=call: newCall answers {action:"call"}: the platform calls the agent and bridges the two.
// FORWARD_MODE=connect (default): the caller is answered by IVR and hears a message; the app places a call to
// the agent into the caller's session (placeivrcall) and connects the two when the agent is there (connect).
// Run: SIPMS_SIGNING_SECRET=… SIPMS_API_URL=http://127.0.0.1:8080 SIPMS_API_KEY=msk_… AGENT=sip:agent@pbx.example.com PORT=3001 node forward-to-agent.js
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createCallbackHandler, ivr, SipmsClient } from '@sipms/sdk';

const agent = process.env.AGENT ?? 'sip:agent@pbx.example.com';
const client = new SipmsClient({
  baseUrl: process.env.SIPMS_API_URL ?? 'http://127.0.0.1:8080',
  apiKey: process.env.SIPMS_API_KEY ?? '',
});
/** Per session: the caller, and the agent's participant once placed. */
const sessions = new Map<string, { caller: string; agent?: string }>();

export const handler = createCallbackHandler({
  secrets: (process.env.SIPMS_SIGNING_SECRET ?? '').split(','),
  handlers: {
    newCall: ({ sessionId, participantId }) => {
      if (process.env.FORWARD_MODE === 'call') return { action: 'call', destination: agent, timeoutSec: 30 };
      sessions.set(sessionId, { caller: participantId });
      return { action: 'ivr' };
    },
    getIvrCommand: async ({ sessionId, participantId }) => {
      const s = sessions.get(sessionId);
      if (!s) return ivr().hangup();
      if (participantId === s.agent) {
        // The agent answered and entered IVR: connect it to the caller once this reply is on its way.
        setImmediate(() => {
          client.calls
            .connect({ sessionId, participantIds: [s.caller, participantId] })
            .then(({ connectionId }) => console.log(`connected ${connectionId}`))
            .catch((error: unknown) => console.error('connect failed', error));
        });
        return {}; // no action: the agent waits in silence until connected
      }
      if (s.agent === undefined) {
        s.agent = ''; // placing
        const placed = await client.calls.placeIvrCall({ destination: agent, sessionId, timeoutSec: 30 });
        s.agent = placed.participantId;
        return ivr().say('Please hold, we are connecting you to an agent.');
      }
      if (s.agent === 'failed') return ivr().say('Sorry, no agent is available. Goodbye.').hangup();
      return {}; // the caller waits in silence until connected
    },
    callEvent: async ({ sessionId, participantId, event }) => {
      const s = sessions.get(sessionId);
      if (s && participantId === s.agent && /^calledParty(Busy|NoAnswer|Failed)$/.test(event)) {
        // The agent cannot come: stop the caller's wait; its next getIvrCommand says so.
        s.agent = 'failed';
        await client.calls.interruptIvrCommand({ sessionId, participantId: s.caller });
      }
      return {}; // default handling: a hang-up of either connected party ends the session
    },
    sessionCompleted: ({ sessionId, reason }) => {
      sessions.delete(sessionId);
      console.log(`session ${sessionId} ended: ${reason}`);
    },
  },
});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3001);
  createServer(handler.node).listen(port, '127.0.0.1', () =>
    console.log(`listening on http://127.0.0.1:${port}/hooks`),
  );
}
