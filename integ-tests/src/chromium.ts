/** Debian's Chromium, headless, as the browser tests drive it (playwright-core with the system executable). */
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless with nothing in the background: no network of its own, no updates, autoplay allowed. */
const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * For WebRTC against this machine: a fake microphone (a WAV file, or Chromium's beep), no permission prompt,
 * loopback ICE candidates allowed and host addresses not hidden behind mDNS names.
 */
export function webRtcArgs(microphoneWav?: string): string[] {
  return [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    ...(microphoneWav ? [`--use-file-for-fake-audio-capture=${microphoneWav}`] : []),
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ];
}

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...BASE_ARGS, ...extraArgs] });
}
