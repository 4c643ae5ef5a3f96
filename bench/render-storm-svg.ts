/** One line of the plot: a backend (or its floor) over the storm sizes. */
export interface PlotSeries {
  readonly label: string;
  readonly color: string;
  readonly dashed: boolean;
  /** x = VEs in the storm, y = seconds until all were running */
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

const W = 640;
const H = 400;
const M = { left: 60, right: 170, top: 30, bottom: 50 };

// Labels and titles come from the bench itself, but an SVG is XML: escape anyway.
function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Round axis steps (1, 2, 5 x 10^n) so a reader can read values off the grid.
function findStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const base = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * base).find((s) => s >= raw);
  return step ?? base * 10;
}

/** Time to running against the number of VEs, both backends with their floors: a plain hand-built SVG. */
export function renderStormSvg(title: string, series: readonly PlotSeries[], goal?: { readonly x: number; readonly y: number; readonly label: string }): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p.x), goal?.x ?? 0);
  const maxYData = Math.max(1, ...all.map((p) => p.y), goal?.y ?? 0);
  const yStep = findStep(maxYData, 6);
  const maxY = Math.ceil(maxYData / yStep) * yStep;
  const xStep = findStep(maxX, 8);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const px = (x: number): number => M.left + (x / maxX) * plotW;
  const py = (y: number): number => M.top + plotH - (y / maxY) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="18" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (let y = 0; y <= maxY + 1e-9; y += yStep) {
    out.push(`<line x1="${M.left}" y1="${py(y).toFixed(1)}" x2="${M.left + plotW}" y2="${py(y).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${+y.toFixed(2)}</text>`);
  }
  for (let x = 0; x <= maxX + 1e-9; x += xStep) {
    out.push(`<line x1="${px(x).toFixed(1)}" y1="${M.top + plotH}" x2="${px(x).toFixed(1)}" y2="${M.top + plotH + 4}" stroke="black"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="black"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="black"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 10}" text-anchor="middle">VEs created at once</text>`);
  out.push(`<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">seconds until all running</text>`);
  if (goal !== undefined) {
    out.push(`<circle cx="${px(goal.x).toFixed(1)}" cy="${py(goal.y).toFixed(1)}" r="5" fill="none" stroke="#c00" stroke-width="2"/>`);
    out.push(`<text x="${(px(goal.x) - 8).toFixed(1)}" y="${(py(goal.y) - 8).toFixed(1)}" text-anchor="end" fill="#c00">${escapeXml(goal.label)}</text>`);
  }
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 0) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`);
      for (const p of pts) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 36}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${W - M.right + 42}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
