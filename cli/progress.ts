// Live progress bars on stderr (cli-progress), one per task or per uploaded file. On a terminal
// the bars redraw in place; elsewhere (a CI log, a pipe) a person still sees a line per bar every
// second, and a script that asked for --json sees nothing but its JSON.
import cliProgress from "cli-progress";
import type { Output } from "./output.js";

export interface BarState {
  /** 0–100. */
  percent: number;
  /** A status word (queued, running…) or a step name. */
  status: string;
  message?: string | null;
}

export interface Bar {
  update(state: BarState): void;
}

export class ProgressBars {
  private readonly multi: cliProgress.MultiBar | undefined;
  private readonly labelWidth: number;

  /**
   * `labels`: every bar's label, so that they line up. `stream` is where bars go; shown on a
   * terminal always, elsewhere only for people (not with --json).
   */
  constructor(
    private readonly out: Output,
    labels: string[],
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.labelWidth = Math.min(40, Math.max(0, ...labels.map((l) => l.length)));
    const tty = stream.isTTY === true;
    if (!tty && out.json) return;
    this.multi = new cliProgress.MultiBar(
      {
        stream,
        format: "{label} {bar} {percentage}% {status} {message}",
        barsize: 30,
        hideCursor: tty,
        clearOnComplete: false,
        // Not a terminal: a line per bar every second, and one at the end.
        noTTYOutput: !tty,
        notTTYSchedule: 1000,
        autopadding: true,
        emptyOnZero: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  add(label: string, first: BarState): Bar {
    const multi = this.multi;
    if (!multi) return { update: () => {} };
    const shown = label.length > this.labelWidth ? `${label.slice(0, this.labelWidth - 1)}…` : label.padEnd(this.labelWidth);
    const bar = multi.create(100, first.percent, this.payload(shown, first));
    return { update: (s) => bar.update(Math.round(s.percent), this.payload(shown, s)) };
  }

  /** Draws the bars a last time and gives the terminal back. */
  stop(): void {
    this.multi?.stop();
  }

  private payload(label: string, s: BarState) {
    return { label, status: this.out.statusErr(s.status), message: s.message ? `· ${s.message}` : "" };
  }
}
