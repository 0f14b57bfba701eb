/**
 * One stream of key presses from RFC 4733 (rtpengine) and SIP INFO. A phone that sends both for the
 * same press would otherwise count twice: a digit equal to the previous one, arriving from the other
 * source within `windowMs`, is the same press.
 */
export class DtmfMerger {
  private last: { digit: string; via: string; at: number } | undefined;

  constructor(
    private readonly emit: (digit: string) => void,
    private readonly windowMs = 400,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(digit: string, via: 'rfc4733' | 'info'): void {
    const at = this.now();
    const prev = this.last;
    if (prev && prev.digit === digit && prev.via !== via && at - prev.at < this.windowMs) return;
    this.last = { digit, via, at };
    this.emit(digit);
  }
}
