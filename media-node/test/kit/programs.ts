import { execFileSync } from 'node:child_process';

/** Whether the rtpengine binary runs here (tests that need a real one skip loudly without it). */
export function haveRtpengine(): boolean {
  try {
    execFileSync('rtpengine', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false; // not installed: the caller's skip names the package
  }
}
