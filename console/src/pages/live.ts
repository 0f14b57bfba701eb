import { enc } from '../api.js';
import type { Page } from '../context.js';
import { h } from '../dom.js';
import { isCompleted, type SessionDetail, type SessionSummary } from '../sessions.js';

/** Calls of the last day whose session has not completed: the window a live call can be in. */
const LOOKBACK_MS = 24 * 3600_000;

/** The replyId of the participant's latest callback: a recording of a one-party call names it. */
function latestReplyId(s: SessionDetail, participantId: string): string | undefined {
  for (let i = s.journal.length - 1; i >= 0; i--) {
    const request = s.journal[i]!.request as { participantId?: string; replyId?: string } | undefined;
    if (request?.participantId === participantId && request.replyId) return request.replyId;
  }
  return undefined;
}

/** Live calls with hang-up, interrupt and recording buttons calling the live-call REST routes. */
export const livePage: Page = async (ctx) => {
  const base = `/mediaservice/${enc(ctx.creds!.domain)}`;
  const list = h('div', { class: 'live-list' });

  const load = async (): Promise<void> => {
    const from = new Date(Date.now() - LOOKBACK_MS).toISOString();
    const open: SessionSummary[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await ctx.api.get<{ sessions: SessionSummary[]; nextCursor?: string }>(
        `/v1/sessions?from=${enc(from)}&limit=200${cursor ? `&cursor=${enc(cursor)}` : ''}`,
      );
      open.push(...r.sessions.filter((s) => s.state !== 'ended' && !s.endedAt));
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    const details = (
      await Promise.all(open.map((s) => ctx.api.get<SessionDetail>(`/v1/sessions/${enc(s.sessionId)}`)))
    ).filter((s) => !isCompleted(s));
    list.replaceChildren(
      details.length === 0
        ? h('p', {}, 'No live calls.')
        : h(
            'ul',
            { class: 'cards' },
            details.map((s) => h('li', {}, card(s))),
          ),
    );
  };

  const act = (label: string, path: string, body: Record<string, unknown>) =>
    ctx.status.run(
      () => ctx.api.request('POST', `${base}/${path}`, body),
      () => `${label}: done.`,
    );

  const card = (s: SessionDetail): HTMLElement =>
    h(
      'article',
      { class: 'card', 'aria-labelledby': `live-${s.sessionId}` },
      h('h2', { id: `live-${s.sessionId}` }, h('a', { href: `#/calls/${enc(s.sessionId)}` }, `Session ${s.sessionId}`)),
      h('p', {}, `${s.state} since ${s.createdAt}`),
      Object.entries(s.participants).map(([pid, p]) => {
        const who = `${p.from ?? '?'} → ${p.to ?? '?'}`;
        const target = p.connectionId
          ? { sessionId: s.sessionId, connectionId: p.connectionId }
          : { sessionId: s.sessionId, replyId: latestReplyId(s, pid) };
        return h(
          'div',
          { class: 'participant', role: 'group', 'aria-label': `Participant ${who}` },
          h('p', {}, who, p.state ? ` (${p.state})` : ''),
          h(
            'div',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                onclick: async () => {
                  if (await act('Hang up', 'hangupparticipant', { sessionId: s.sessionId, participantId: pid }))
                    await load();
                },
              },
              'Hang up',
            ),
            h(
              'button',
              {
                type: 'button',
                onclick: () => act('Interrupt', 'interruptivrcommand', { sessionId: s.sessionId, participantId: pid }),
              },
              'Interrupt IVR command',
            ),
            h(
              'button',
              { type: 'button', onclick: () => act('Start recording', 'startrecording', target) },
              'Start recording',
            ),
            h(
              'button',
              { type: 'button', onclick: () => act('Stop recording', 'stoprecording', target) },
              'Stop recording',
            ),
          ),
        );
      }),
    );

  await load();
  return h(
    'section',
    {},
    h('h1', {}, 'Live calls'),
    h(
      'button',
      {
        type: 'button',
        onclick: () => ctx.status.run(load, () => 'Live calls refreshed.'),
      },
      'Refresh',
    ),
    list,
  );
};
