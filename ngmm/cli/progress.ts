// Fit progress on standard error: which phase (the linear model's L-BFGS, Adam epochs of a
// network, the L-BFGS polish after Adam), the iteration or epoch, the loss and an estimate of
// the time left. Nothing is shown for a fit that ends within `quietMs` (a second), so quick fits
// stay quiet. On a terminal one bar is redrawn in place; otherwise (a log file, CI) a plain line
// at most every `everyMs`, so a long fit leaves a readable, bounded log.
//
// The time left is measured from the first report of the phase on, not from its start: the
// first epoch or iteration includes one-off costs (compiling the kernels' hot paths, allocating
// the tape's buffers) and would overstate the rest. The L-BFGS phases report against their
// iteration cap, which they usually stop well short of, so their estimate is an upper bound (≤).
import type { FitProgress } from '../fit';

export interface ProgressOptions {
  /** Reports before this much time in the fit are not shown (ms). */
  quietMs?: number;
  /** Least time between plain lines (ms). */
  everyMs?: number;
  /** Least time between redraws of the terminal bar (ms). */
  redrawMs?: number;
}

export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
}

const WORDS: Record<FitProgress['phase'], string> = {
  linear: 'linear model: iteration',
  adam: 'network: epoch',
  polish: 'polish: iteration',
};

/** "12 s", "3 min 05 s", "2 h 10 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export class ProgressPrinter {
  private readonly tty: boolean;
  private readonly quietMs: number;
  private readonly everyMs: number;
  private readonly redrawMs: number;
  private phase: FitProgress['phase'] | null = null;
  /** The first report of the current phase: the warm-up the time estimate leaves out. */
  private first: FitProgress | null = null;
  private lastShownMs = -Infinity;
  /** The last report, and whether it was shown. */
  private last: FitProgress | null = null;
  private lastShown = false;
  /** A terminal bar is on the current line. */
  private open = false;

  constructor(private readonly out: ProgressSink, o: ProgressOptions = {}) {
    this.tty = out.isTTY === true;
    this.quietMs = o.quietMs ?? 1000;
    this.everyMs = o.everyMs ?? 2000;
    this.redrawMs = o.redrawMs ?? 100;
  }

  /** The time left in seconds, or null while only the warm-up report is in. */
  eta(p: FitProgress): number | null {
    const f = this.first;
    if (!f || p.epoch <= f.epoch) return null;
    const perStep = (p.elapsedMs - f.elapsedMs) / (p.epoch - f.epoch);
    // An ensemble's network phase: the members still to train take as many epochs again (an
    // estimate: early stopping may end them sooner; their polish is not counted).
    const later = p.phase === 'adam' && p.member !== undefined && p.members !== undefined ? (p.members - p.member) * p.epochs : 0;
    return (perStep * (Math.max(0, p.epochs - p.epoch) + later)) / 1000;
  }

  line(p: FitProgress): string {
    const eta = this.eta(p);
    const bound = p.phase === 'adam' ? '' : '≤ ';
    const val = p.validation !== undefined ? `  validation ${p.validation.toFixed(5)}` : '';
    const step = `${String(p.epoch).padStart(String(p.epochs).length)}/${p.epochs}`;
    const member = p.member !== undefined && p.members !== undefined ? `member ${p.member}/${p.members} · ` : '';
    return `${member}${WORDS[p.phase]} ${step}  loss ${p.loss.toFixed(5)}${val}  ETA ${eta === null ? '…' : bound + duration(eta)}`;
  }

  report(p: FitProgress): void {
    if (p.phase !== this.phase) {
      this.endLine();
      this.phase = p.phase;
      this.first = p;
      this.lastShownMs = -Infinity;
    }
    this.last = p;
    this.lastShown = false;
    if (p.elapsedMs < this.quietMs) return;
    const final = p.epoch >= p.epochs && (p.member === undefined || p.member === p.members);
    if (!final && p.elapsedMs - this.lastShownMs < (this.tty ? this.redrawMs : this.everyMs)) return;
    this.show(p);
  }

  /** Call when the fit ends (or fails): shows the last state if it was held back, ends the bar. */
  finish(): void {
    const p = this.last;
    if (p && !this.lastShown && this.lastShownMs > -Infinity) this.show(p);
    this.endLine();
  }

  private show(p: FitProgress): void {
    const line = this.line(p);
    if (this.tty) {
      const width = 24;
      // The whole ensemble's share in the network phase, else this phase's.
      const ens = p.phase === 'adam' && p.member !== undefined && p.members !== undefined;
      const frac = ens ? ((p.member! - 1) * p.epochs + p.epoch) / Math.max(1, p.members! * p.epochs) : p.epoch / Math.max(1, p.epochs);
      const done = Math.min(width, Math.round(width * frac));
      this.out.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${line}\x1b[K`);
      this.open = true;
    } else this.out.write(line + '\n');
    this.lastShownMs = p.elapsedMs;
    this.lastShown = true;
  }

  private endLine(): void {
    if (this.open) this.out.write('\n');
    this.open = false;
  }
}
