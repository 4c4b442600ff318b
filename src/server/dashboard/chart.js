/* global getComputedStyle, ResizeObserver, requestAnimationFrame, window */
/**
 * A small line chart on <canvas> for one point per second: no library, redrawn from its data on
 * every new point, resize and colour-scheme change. Colours come from CSS custom properties, so
 * the stylesheet themes it.
 */

/** The smallest of 1, 2, 4, 8 × 10^k that is at least `value` (and at least `floor`). */
function niceCeiling(value, floor) {
  const target = Math.max(value, floor);
  let power = 10 ** Math.floor(Math.log10(target));
  for (;;) {
    for (const m of [1, 2, 4, 8, 10]) if (m * power >= target) return m * power;
    power *= 10;
  }
}

function tickLabel(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ series: Array<{ key: string, color: string }>, capacity?: number, floor?: number,
   *   unit?: string, onUpdate?: (points: Array<{ t: number, values: object }>) => void }} options
   *   `color` names a CSS custom property; `floor` is the lowest top of the y axis; `onUpdate`
   *   gets the points after each change (to write a text summary).
   */
  constructor(canvas, { series, capacity = 120, floor = 4, unit = "", onUpdate }) {
    this.canvas = canvas;
    this.series = series;
    this.capacity = capacity;
    this.floor = floor;
    this.unit = unit;
    this.onUpdate = onUpdate ?? (() => undefined);
    this.points = [];
    this.pending = false;
    new ResizeObserver(() => this.scheduleDraw()).observe(canvas);
    window
      .matchMedia("(prefers-color-scheme: dark)")
      .addEventListener("change", () => this.scheduleDraw());
  }

  /** Adds the point for second `at` (ISO); seconds missed since the last one become gaps. */
  push(at, values) {
    const t = Date.parse(at) || Date.now();
    const last = this.points.at(-1);
    if (last) {
      const missed = Math.min(Math.round((t - last.t) / 1000) - 1, this.capacity);
      for (let i = 1; i <= missed; i++) this.points.push({ t: last.t + i * 1000, values: {} });
    }
    this.points.push({ t, values });
    if (this.points.length > this.capacity) {
      this.points.splice(0, this.points.length - this.capacity);
    }
    this.onUpdate(this.points);
    this.scheduleDraw();
  }

  scheduleDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const { canvas } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const style = getComputedStyle(canvas);
    const color = (name) => style.getPropertyValue(name).trim() || "#888";
    const box = { left: 48, right: 12, top: 10, bottom: 22 };
    const plotWidth = width - box.left - box.right;
    const plotHeight = height - box.top - box.bottom;

    let max = 0;
    for (const point of this.points) {
      for (const { key } of this.series) max = Math.max(max, point.values[key] ?? 0);
    }
    const top = niceCeiling(max, this.floor);
    const y = (value) => box.top + plotHeight * (1 - value / top);
    const x = (index) => box.left + (plotWidth * index) / (this.capacity - 1);

    ctx.font = `11px ${style.fontFamily}`;
    ctx.lineWidth = 1;
    ctx.strokeStyle = color("--chart-grid");
    ctx.fillStyle = color("--chart-text");
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const value = (top * i) / 4;
      const at = Math.round(y(value)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(box.left, at);
      ctx.lineTo(width - box.right, at);
      ctx.stroke();
      ctx.fillText(`${tickLabel(value)}${this.unit}`, box.left - 6, at);
    }
    ctx.textBaseline = "alphabetic";
    const minutes = Math.round(this.capacity / 60);
    const labels = [
      [0, "left", `−${minutes} min`],
      [(this.capacity - 1) / 2, "center", `−${minutes / 2} min`],
      [this.capacity - 1, "right", "now"],
    ];
    for (const [index, align, text] of labels) {
      ctx.textAlign = align;
      ctx.fillText(text, x(index), height - 6);
    }

    const offset = this.capacity - this.points.length;
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    for (const { key, color: name } of this.series) {
      ctx.strokeStyle = ctx.fillStyle = color(name);
      ctx.beginPath();
      let drawing = false;
      this.points.forEach((point, index) => {
        const value = point.values[key];
        if (value === null || value === undefined) {
          drawing = false;
          return;
        }
        const px = x(offset + index);
        const py = y(value);
        if (drawing) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        // A point with gaps on both sides would draw nothing: mark it with a dot.
        const next = this.points[index + 1]?.values[key];
        if (!drawing && (next === null || next === undefined)) ctx.fillRect(px - 2, py - 2, 4, 4);
        drawing = true;
      });
      ctx.stroke();
    }
  }
}
