// A small live line chart: the last samples of one number, with an optional objective line.
// Drawn as SVG attributes (no inline style: the CSP allows none); its label says the latest value.
interface Props {
  label: string;
  values: number[];
  /** A level to draw as a dashed line (an objective). */
  target?: number;
  /** The latest value as people read it. */
  valueText: string;
}

const W = 160;
const H = 40;

export function Sparkline({ label, values, target, valueText }: Props) {
  const max = Math.max(1e-9, target ?? 0, ...values) * 1.1;
  const step = values.length > 1 ? W / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(H - (v / max) * H).toFixed(1)}`).join(" ");
  const y = target !== undefined ? H - (target / max) * H : undefined;
  return (
    <figure class="spark">
      <figcaption>
        <span class="spark-label">{label}</span> <strong class="spark-value">{valueText}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`${label}: ${valueText}`} preserveAspectRatio="none">
        {y !== undefined && <line x1="0" x2={W} y1={y} y2={y} class="spark-target" />}
        {values.length > 1 ? <polyline points={points} class="spark-line" /> : values.length === 1 ? <circle cx={W / 2} cy={H - (values[0]! / max) * H} r="2" class="spark-dot" /> : null}
      </svg>
    </figure>
  );
}
