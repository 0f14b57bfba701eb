import type { DtmfParams } from '@sipms/shared/contracts/callbacks';
import type { DtmfCollect } from '@sipms/shared/contracts/ivr-command';

/**
 * Collects digits for one IVR command. Digits typed while phrases play are kept (type-ahead); the
 * first-digit timer starts only when the phrases are done (`armTimers`), and the inter-digit timer
 * restarts after every digit from then on.
 */
export class DtmfCollector {
  private digits = '';
  private done: DtmfParams | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armed = false;
  private resolveResult!: (r: DtmfParams) => void;
  readonly result: Promise<DtmfParams>;

  constructor(private readonly spec: DtmfCollect) {
    this.result = new Promise((resolve) => {
      this.resolveResult = resolve;
    });
  }

  get finished(): boolean {
    return this.done !== undefined;
  }

  push(digit: string): void {
    if (this.done) return;
    if (this.spec.terminationKey && digit === this.spec.terminationKey) {
      this.finish({ digits: this.digits, terminationKey: digit, reason: 'terminationKey' });
      return;
    }
    this.digits += digit;
    if (this.digits.length >= this.spec.maxDigits) {
      this.finish({ digits: this.digits, terminationKey: '', reason: 'maxDigits' });
      return;
    }
    if (this.armed) this.restartTimer(this.spec.interDigitTimeoutMs);
  }

  /** Called when the phrases have finished: from now on, silence ends the collection. */
  armTimers(): void {
    if (this.done || this.armed) return;
    this.armed = true;
    this.restartTimer(this.digits.length === 0 ? this.spec.firstDigitTimeoutMs : this.spec.interDigitTimeoutMs);
  }

  /** Ends collection now with what was typed (e.g. the caller hung up or the command was interrupted). */
  cancel(): void {
    this.finish({ digits: this.digits, terminationKey: '', reason: 'timeout' });
  }

  private restartTimer(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.finish({ digits: this.digits, terminationKey: '', reason: 'timeout' }), ms);
  }

  private finish(result: DtmfParams): void {
    if (this.done) return;
    this.done = result;
    clearTimeout(this.timer);
    this.resolveResult(result);
  }
}
