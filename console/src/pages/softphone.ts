import { ApiError, type SoftphoneCredential } from '../api.js';
import type { Page } from '../context.js';
import { h, uid } from '../dom.js';
import { type AudioSource, fileSource, microphoneSource, microphones } from '../softphone/audio-source.js';
import { endIsFault, endMessage, failureMessage } from '../softphone/failure.js';
import { Keypad } from '../softphone/keypad.js';
import { toneForKey } from '../softphone/keys.js';
import { LevelMeter } from '../softphone/level-meter.js';
import { type CallState, SoftphoneCall } from '../softphone/sip-call.js';
import { isDialable } from '../softphone/target.js';

const STATE_TEXT: Record<CallState, string> = {
  connecting: 'Connecting to the SIP WebSocket…',
  calling: 'Calling…',
  ringing: 'Ringing…',
  answered: 'Answered: setting up the media…',
  'in-call': 'In call.',
};

/**
 * Calls one of the tenant's numbers from the browser: SIP over WebSocket with a short-lived credential,
 * WebRTC media through rtpengine, the microphone or a looped audio file as the caller's voice, a keypad
 * sending RFC 4733 DTMF, the remote audio played and its level shown.
 */
export const softphonePage: Page = async (ctx) => {
  const { numbers } = await ctx.api.get<{ numbers: { number: string }[] }>('/v1/numbers');

  const numberId = uid('callNumber');
  const numberSelect = h(
    'select',
    { id: numberId, name: 'callNumber', required: true },
    numbers.map((n) => h('option', { value: n.number }, n.number)),
  );
  const micId = uid('sourceMic');
  const fileChoiceId = uid('sourceFile');
  const micRadio = h('input', { id: micId, type: 'radio', name: 'source', value: 'microphone', checked: true });
  const fileRadio = h('input', { id: fileChoiceId, type: 'radio', name: 'source', value: 'file' });
  const fileId = uid('sourceAudio');
  const fileInput = h('input', {
    id: fileId,
    name: 'sourceAudio',
    type: 'file',
    accept: 'audio/*,.wav,.mp3,.ogg',
    disabled: true,
    'aria-describedby': `${fileId}-hint`,
  });
  const micDeviceId = uid('sourceMicDevice');
  const micSelect = h('select', { id: micDeviceId, name: 'sourceMicDevice' }, [
    h('option', { value: '' }, 'Default microphone'),
  ]);
  /** Lists the inputs again (after access was granted their names appear; devices come and go), keeping the pick. */
  const listMicrophones = async (): Promise<void> => {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const picked = micSelect.value;
    const inputs = await microphones();
    micSelect.replaceChildren(
      h('option', { value: '' }, 'Default microphone'),
      ...inputs.map((m) => h('option', { value: m.deviceId }, m.label)),
    );
    micSelect.value = inputs.some((m) => m.deviceId === picked) ? picked : '';
  };
  const relist = (): void => {
    listMicrophones().catch((err: Error) =>
      ctx.status.fail(new Error(`the microphones cannot be listed: ${err.message}`)),
    );
  };
  relist();
  navigator.mediaDevices?.addEventListener?.('devicechange', relist);
  const syncSource = (): void => {
    fileInput.disabled = !fileRadio.checked;
    micSelect.disabled = fileRadio.checked;
  };
  micRadio.addEventListener('change', syncSource);
  fileRadio.addEventListener('change', syncSource);

  const callButton = h('button', { type: 'submit', disabled: numbers.length === 0 }, 'Call');
  const hangupButton = h(
    'button',
    { type: 'button', class: 'danger', disabled: true, onclick: () => call?.hangup() },
    'Hang up',
  );
  const callState = h(
    'p',
    { class: 'call-state', role: 'status', 'aria-live': 'polite', 'data-state': 'idle' },
    'No call.',
  );
  const levelLabelId = uid('levelLabel');
  const levelText = h('span', { class: 'level-text', id: 'remote-level' });
  const levelBar = h('meter', {
    min: -100,
    max: 0,
    low: -60,
    high: -6,
    optimum: -20,
    'aria-labelledby': levelLabelId,
  });
  const meter = new LevelMeter(levelText, levelBar);
  const sentOut = h('output', { 'aria-live': 'polite', class: 'sent' }, '—');
  const remoteAudio = h('audio', { autoplay: true, 'aria-label': 'Remote audio' });
  const keypad = new Keypad((tone) => press(tone));

  let call: SoftphoneCall | undefined;
  let source: AudioSource | undefined;
  let audio: AudioContext | undefined;
  let busy = false;
  let sent = '';

  const setState = (state: string, text: string): void => {
    callState.dataset.state = state;
    callState.textContent = text;
  };
  const sync = (): void => {
    const inCall = call?.established ?? false;
    keypad.setEnabled(inCall);
    hangupButton.disabled = !call;
    callButton.disabled = busy || numbers.length === 0;
    numberSelect.disabled = busy;
  };
  const cleanup = (): void => {
    meter.reset('no call');
    source?.stop();
    source = undefined;
    call = undefined;
    busy = false;
    remoteAudio.srcObject = null;
    sync();
  };

  const press = (tone: string): void => {
    if (!call?.established) return;
    try {
      call.sendDtmf(tone);
    } catch (err) {
      ctx.status.fail(err);
      return;
    }
    keypad.flash(tone);
    sent += tone;
    sentOut.textContent = sent;
  };

  const placeCall = async (): Promise<void> => {
    const number = numberSelect.value;
    if (!isDialable(number)) return ctx.status.fail(new Error('choose one of your numbers to call'));
    const file = fileRadio.checked ? fileInput.files?.[0] : undefined;
    if (fileRadio.checked && !file)
      return ctx.status.fail(new Error('choose an audio file to send, or the microphone'));
    busy = true;
    sent = '';
    sentOut.textContent = '—';
    sync();
    // Created within the click: browsers let an AudioContext started by a user gesture play.
    audio ??= new AudioContext();
    const ac = audio;
    try {
      await ac.resume();
      setState('credential', 'Getting a SIP credential…');
      let credential: SoftphoneCredential;
      try {
        credential = await ctx.api.softphoneCredential();
      } catch (err) {
        if (err instanceof ApiError) {
          throw new ApiError(err.status, err.code, `no softphone credential: ${err.message}`);
        }
        throw err;
      }
      setState('media', 'Opening the audio source…');
      source = file ? await fileSource(ac, file) : await microphoneSource(micSelect.value);
      if (!file) relist(); // access granted now: the inputs' names can be shown
      const label = source.label;
      meter.reset('no remote audio yet');
      call = await SoftphoneCall.start(credential, number, source.stream, {
        state: (s) => {
          setState(s, s === 'in-call' ? `In call with ${number}, sending the ${label}.` : STATE_TEXT[s]);
          sync();
        },
        remoteStream: (stream) => {
          remoteAudio.srcObject = stream;
          remoteAudio
            .play()
            .catch((err: Error) => ctx.status.fail(new Error(`the remote audio does not play: ${err.message}`)));
          meter.attach(ac, stream);
        },
        over: (outcome, answered) => {
          const text = answered ? endMessage(outcome) : failureMessage(outcome);
          const fault = answered ? endIsFault(outcome) : outcome.cause !== 'Canceled';
          setState(fault ? 'failed' : 'ended', text);
          if (fault) ctx.status.fail(new Error(text));
          else ctx.status.say(text);
          cleanup();
        },
      });
      sync();
    } catch (err) {
      setState('failed', `No call: ${(err as Error).message}`);
      ctx.status.fail(err);
      cleanup();
    }
  };

  const onKey = (ev: KeyboardEvent): void => {
    if (!call?.established || ev.repeat) return;
    const t = ev.target as HTMLElement | null;
    if (t && /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName)) return;
    const tone = toneForKey(ev.key, { ctrl: ev.ctrlKey, alt: ev.altKey, meta: ev.metaKey });
    if (!tone) return;
    ev.preventDefault();
    press(tone);
  };
  document.addEventListener('keydown', onKey);
  // Leaving the page (another route, or the tab) hangs up: no call goes on without its controls.
  const leave = (): void => {
    document.removeEventListener('keydown', onKey);
    window.removeEventListener('pagehide', leave);
    navigator.mediaDevices?.removeEventListener?.('devicechange', relist);
    call?.hangup();
    void audio?.close();
    audio = undefined;
  };
  window.addEventListener('hashchange', leave, { once: true });
  window.addEventListener('pagehide', leave);

  const dial = h(
    'form',
    {
      'aria-labelledby': 'dial-h',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        if (!busy) void placeCall();
      },
    },
    h('h2', { id: 'dial-h' }, 'Place a call'),
    numbers.length === 0
      ? h('p', {}, 'You have no numbers yet: ', h('a', { href: '#/numbers' }, 'claim one'), ' to call it from here.')
      : null,
    h('div', { class: 'field' }, h('label', { for: numberId }, 'Number to call'), numberSelect),
    h(
      'fieldset',
      { class: 'source' },
      h('legend', {}, 'Audio to send'),
      h('div', { class: 'choice' }, micRadio, h('label', { for: micId }, 'Microphone')),
      h('div', { class: 'field' }, h('label', { for: micDeviceId }, 'Which microphone'), micSelect),
      h('div', { class: 'choice' }, fileRadio, h('label', { for: fileChoiceId }, 'An audio file, looped')),
      h(
        'div',
        { class: 'field' },
        h('label', { for: fileId }, 'Audio file'),
        fileInput,
        h('small', { id: `${fileId}-hint` }, 'Decoded in this browser (WAV, MP3, Ogg…) and sent on a loop.'),
      ),
    ),
    callButton,
  );

  const panel = h(
    'div',
    { class: 'call-panel', role: 'region', 'aria-labelledby': 'call-h' },
    h('h2', { id: 'call-h' }, 'Call'),
    callState,
    h('p', { class: 'level' }, h('span', { id: levelLabelId }, 'Remote audio level: '), levelText, ' ', levelBar),
    keypad.el,
    h('p', {}, 'Keys sent: ', sentOut),
    hangupButton,
    remoteAudio,
  );

  return h(
    'section',
    {},
    h('h1', {}, 'Softphone'),
    h(
      'p',
      { class: 'hint' },
      'Call your voice app from this browser: SIP over WebSocket and WebRTC to the media server, ' +
        'with a credential valid for your own numbers for 10 minutes. Keys 0–9, * and # on your keyboard ' +
        'press the keypad during a call.',
    ),
    h('div', { class: 'two' }, dial, panel),
  );
};
