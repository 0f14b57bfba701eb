import type { Page } from '../context.js';
import { field, h, svg } from '../dom.js';

const COUNTERS = ['callAttempts', 'answeredCalls', 'callSeconds', 'ttsCharacters', 'recordingSeconds'] as const;
type Counter = (typeof COUNTERS)[number];
type Day = { day: string } & Record<Counter, number>;

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

/** Usage by UTC day: an SVG bar chart (hidden from screen readers) with the same numbers as a table. */
export const usagePage: Page = async (ctx) => {
  const today = new Date();
  const from = field('From (UTC day)', {
    name: 'usageFrom',
    type: 'date',
    value: isoDay(new Date(today.getTime() - 29 * 86_400_000)),
    required: true,
  });
  const to = field('To (UTC day)', { name: 'usageTo', type: 'date', value: isoDay(today), required: true });
  const metricId = 'usage-metric';
  const metric = h(
    'select',
    { id: metricId, name: 'metric' },
    COUNTERS.map((c) => h('option', { value: c }, c)),
  );
  const out = h('div');
  let days: Day[] = [];
  const draw = (): void => {
    const key = metric.value as Counter;
    out.replaceChildren(
      chart(everyDay(from.input.value, to.input.value, days), key),
      h(
        'table',
        {},
        h('caption', {}, 'Usage by day'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Day'),
            COUNTERS.map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          {},
          days.length === 0
            ? h('tr', {}, h('td', { colspan: COUNTERS.length + 1 }, 'No usage in this range.'))
            : days.map((d) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, d.day),
                  COUNTERS.map((c) => h('td', {}, d[c])),
                ),
              ),
        ),
      ),
    );
  };
  metric.addEventListener('change', draw);
  const load = async (): Promise<void> => {
    const r = await ctx.status.run(
      () =>
        ctx.api.get<{ days: Day[] }>(
          `/v1/usage?from=${encodeURIComponent(from.input.value)}&to=${encodeURIComponent(to.input.value)}`,
        ),
      (v) => `${v.days.length} day(s) with usage.`,
    );
    if (r) {
      days = r.days;
      draw();
    }
  };
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        await load();
      },
    },
    from.wrap,
    to.wrap,
    h('div', { class: 'field' }, h('label', { for: metricId }, 'Chart'), metric),
    h('button', { type: 'submit' }, 'Show usage'),
  );
  await load();
  return h('section', {}, h('h1', {}, 'Usage'), form, out);
};

/** The range's days, those without usage as zeros: the chart's x axis is time, not just the days listed. */
function everyDay(from: string, to: string, days: Day[]): Day[] {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out: Day[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length < 366; t += 86_400_000) {
    const day = isoDay(new Date(t));
    out.push(
      byDay.get(day) ?? {
        day,
        callAttempts: 0,
        answeredCalls: 0,
        callSeconds: 0,
        ttsCharacters: 0,
        recordingSeconds: 0,
      },
    );
  }
  return out.length ? out : days;
}

function chart(days: Day[], key: Counter): SVGElement {
  const w = 640;
  const hgt = 220;
  const pad = { l: 48, b: 40, t: 12, r: 8 };
  const max = Math.max(1, ...days.map((d) => d[key]));
  const band = days.length ? (w - pad.l - pad.r) / days.length : 0;
  const every = Math.max(1, Math.ceil(days.length / 10));
  const y = (v: number) => hgt - pad.b - (v / max) * (hgt - pad.b - pad.t);
  return svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, 'aria-hidden': 'true', focusable: 'false' },
    svg('line', { x1: pad.l, y1: hgt - pad.b, x2: w - pad.r, y2: hgt - pad.b, class: 'axis' }),
    svg('text', { x: pad.l - 6, y: pad.t + 8, 'text-anchor': 'end', class: 'tick' }, max),
    svg('text', { x: pad.l - 6, y: hgt - pad.b, 'text-anchor': 'end', class: 'tick' }, 0),
    days.map((d, i) => {
      const x = pad.l + i * band + band * 0.15;
      return [
        svg(
          'rect',
          { x, y: y(d[key]), width: Math.max(1, band * 0.7), height: hgt - pad.b - y(d[key]), class: 'bar' },
          svg('title', {}, `${d.day}: ${d[key]} ${key}`),
        ),
        i % every === 0
          ? svg(
              'text',
              { x: x + band * 0.35, y: hgt - pad.b + 14, 'text-anchor': 'middle', class: 'tick' },
              d.day.slice(5),
            )
          : null,
      ];
    }),
    svg('text', { x: w / 2, y: hgt - 6, 'text-anchor': 'middle', class: 'label' }, key),
  );
}
