// Progress of a long run: what it is doing and how far it got, as a line every few seconds, so that a
// minutes-long section or soak never looks hung.

export class Progress {
  private stageName = 'starting';
  private done = 0;
  private total = 0;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly name: string,
    private readonly log: (line: string) => void,
    everyMs = 5000,
  ) {
    this.timer = setInterval(() => this.print(), everyMs);
    this.timer.unref();
  }

  /** A new stage of the work, with how many units it has (0: not counted). */
  stage(name: string, total = 0): void {
    this.stageName = name;
    this.done = 0;
    this.total = total;
  }

  tick(count = 1): void {
    this.done += count;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private print(): void {
    const count = this.total > 0 ? ` ${this.done}/${this.total}` : '';
    const seconds = Math.round((Date.now() - this.started) / 1000);
    this.log(`  ${this.name}: ${this.stageName}${count} (${seconds} s)`);
  }
}
