// A voice bot: the IVR command `stream` hands the caller's audio to a WebSocket (Twilio Media Streams messages)
// and plays what the bot sends back. This bot echoes the caller for BOT_SECONDS (default 5) and stops; then the
// call says goodbye. One server serves the callbacks (POST /hooks/<name>) and the bot (WebSocket /media); the
// bot refuses a handshake without a valid signature. Needs the `ws` package for the WebSocket server.
// Run: SIPMS_SIGNING_SECRET=… PUBLIC_URL=wss://bot.example.com PORT=3002 node voice-bot-stream.js
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createCallbackHandler, ivr, verifyStreamSignature } from '@sipms/sdk';
import { WebSocketServer } from 'ws';

const secrets = (process.env.SIPMS_SIGNING_SECRET ?? '').split(',');
const port = Number(process.env.PORT ?? 3002);
/** The bot's URL as the platform reaches it; the handshake signature covers exactly this string. */
const botUrl = `${process.env.PUBLIC_URL ?? `ws://127.0.0.1:${port}`}/media`;

export const handler = createCallbackHandler({
  secrets,
  handlers: {
    newCall: () => ({ action: 'ivr' }),
    getIvrCommand: ({ streamResult }) => {
      if (!streamResult) {
        return ivr()
          .say('Connecting you to our assistant.')
          .stream({ url: botUrl, bidirectional: true, parameters: { language: 'en' }, maxDurationSec: 60 });
      }
      console.log(`stream ended: ${streamResult.reason} after ${streamResult.durationMs} ms`);
      return ivr().say('Thank you. Goodbye.').hangup();
    },
  },
});

/** The echo bot: plays the caller's audio back, then ends the stream. */
export function startBot(wss: WebSocketServer): void {
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as {
        event: string;
        start?: { customParameters?: object };
        media?: { payload: string };
      };
      if (msg.event === 'start') {
        console.log(`bot: start ${JSON.stringify(msg.start?.customParameters)}`);
        setTimeout(() => ws.send(JSON.stringify({ event: 'stop' })), Number(process.env.BOT_SECONDS ?? 5) * 1000);
      }
      if (msg.event === 'media') ws.send(JSON.stringify({ event: 'media', media: { payload: msg.media?.payload } }));
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const wss = new WebSocketServer({ noServer: true });
  startBot(wss);
  const server = createServer(handler.node);
  server.on('upgrade', (req, socket, head) => {
    const check = verifyStreamSignature(botUrl, req.headers['x-mediaserver-signature'] as string | undefined, secrets);
    if (!req.url?.startsWith('/media') || !check.ok) {
      console.log(`bot: handshake refused (${check.ok ? 'path' : check.reason})`);
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/hooks, bot at ${botUrl}`));
}
