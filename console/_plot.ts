/**
 * A small time plot on a canvas: a few series over the last seconds, with a zero line
 * and the value range, redrawn on each sample. No library: the console must stay small.
 *
 * @module
 */

/** One series: its name, colour and samples `[t_ms, value]`. */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

/** Draws `series` over the `windowMs` ending at `now` into `canvas`, titled `title`. */
export function drawPlot(
  canvas: HTMLCanvasElement,
  series: Series[],
  options: { now: number; windowMs: number; title: string },
): void {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const values = series.flatMap((s) => s.points.map(([, v]) => v));
  let low = Math.min(0, ...values);
  let high = Math.max(0, ...values);
  if (high - low < 0.2) {
    high += 0.1;
    low -= 0.1;
  }
  const pad = { left: 44, right: 8, top: 18, bottom: 14 };
  const x = (t: number) =>
    pad.left + (width - pad.left - pad.right) * (1 - (options.now - t) / options.windowMs);
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (high - v) / (high - low);
  const style = getComputedStyle(canvas);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = style.color;
  ctx.strokeStyle = style.color;
  ctx.globalAlpha = 0.35;
  ctx.beginPath();
  ctx.moveTo(pad.left, y(0));
  ctx.lineTo(width - pad.right, y(0));
  ctx.stroke();
  ctx.globalAlpha = 1;
  ctx.fillText(options.title, pad.left, 12);
  ctx.fillText(high.toFixed(2), 2, pad.top + 8);
  if (low !== 0) ctx.fillText(low.toFixed(2), 2, height - pad.bottom);
  ctx.fillText("0", 2, y(0) + 4);
  ctx.lineWidth = 2;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    s.points.forEach(([t, v], i) => i === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v)));
    ctx.stroke();
  }
}
