// A progress bar on stderr for the long experiment runs (the study, the real-data comparison):
// redrawn in place on a terminal, one line every 30 s otherwise (a log file stays readable).
export class ProgressBar {
  private readonly t0 = performance.now();
  private last = 0;
  private readonly tty = process.stderr.isTTY;

  constructor(private readonly name: string) {}

  /** `done` of `total` units finished; `label` says what runs now. */
  update(done: number, total: number, label: string, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < (this.tty ? 200 : 30000)) return;
    this.last = now;
    const frac = Math.min(1, done / total);
    const el = (now - this.t0) / 1000;
    const eta = frac > 0.005 ? (el / frac) * (1 - frac) : NaN;
    const w = 30, filled = Math.round(frac * w);
    const mmss = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}` : '--:--');
    const line = `${this.name} [${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${(frac * 100).toFixed(1).padStart(5)} %  ${mmss(el)} elapsed, ${mmss(eta)} left  ${label}`;
    if (this.tty) process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1).padEnd(Math.min(119, (process.stderr.columns ?? 120) - 1))}`);
    else process.stderr.write(line + '\n');
  }

  /** Ends the bar's line on a terminal, before other output. */
  newline(): void {
    if (this.tty) process.stderr.write('\n');
  }

  get seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }
}
