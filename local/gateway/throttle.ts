import type { ThrottleSettings } from '../local-app';

/**
 * API Gateway's throttle for one route of a stage: a token bucket holding at most `burstLimit`
 * tokens, refilled at `rateLimit` per second; each request takes one or is refused.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt = performance.now();

  constructor(private readonly settings: ThrottleSettings) {
    this.tokens = settings.burstLimit;
  }

  /** Takes a token if one is left. */
  take(): boolean {
    const now = performance.now();
    const { burstLimit, rateLimit } = this.settings;
    this.tokens = Math.min(burstLimit, this.tokens + ((now - this.refilledAt) / 1000) * rateLimit);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
