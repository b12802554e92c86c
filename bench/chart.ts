/**
 * An SVG bar chart of a bench run: one bar per scenario row (its ratio to its baseline, "higher is better"),
 * with the issue's target drawn as a tick where one applies. Hand-written: it is rectangles and text, and a
 * charting library would need a DOM or a headless browser to produce the same file.
 */
export interface ChartRow {
  name: string;
  store: string;
  baseline: string;
  ratio: number | null;
  skipped?: string;
}

/** The targets of issue 18 for rows they apply to (ratio to that row's baseline). */
export function targetFor(row: ChartRow): number | undefined {
  const { name, store, baseline } = row;
  const bare = /^bare node:http/.test(baseline);
  const floor = /floor/i.test(baseline);
  if (store === 'sqlite' && name === 'GET one operation') return bare ? 0.75 : floor ? 0.9 : undefined;
  if (store === 'sqlite' && name.startsWith('PATCH') && bare) return 0.5;
  if (store === 'sqlite' && name.startsWith('Start an action') && bare) return 0.4;
  if (store === 'sqlite' && name === 'List a page' && bare) return 0.25;
  if (store === 'postgres' && floor) return name === 'GET one operation' ? 0.8 : 0.5;
  if (name.startsWith('Engine') && store === 'postgres') {
    if (/graphile/.test(baseline)) return 1.5;
    if (/pg-boss/.test(baseline)) return 3;
  }
  if (name.startsWith('Engine') && /10,000/.test(baseline)) return 1;
  return undefined;
}

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderChart(rows: ChartRow[], title: string): string {
  const shown = rows.filter((r) => !r.skipped && r.ratio !== null);
  const barHeight = 18;
  const gap = 6;
  const labelWidth = 470;
  const plotWidth = 420;
  const top = 48;
  const height = top + shown.length * (barHeight + gap) + 40;
  const max = Math.max(1.5, ...shown.map((r) => Math.max(r.ratio ?? 0, targetFor(r) ?? 0))) * 1.05;
  const x = (ratio: number) => labelWidth + (Math.min(ratio, max) / max) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 70}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<style>text{fill:#222}.bar{fill:#3b78c2}.miss{fill:#c2623b}.target{stroke:#111;stroke-width:2}.axis{stroke:#999}@media (prefers-color-scheme:dark){text{fill:#ddd}.target{stroke:#eee}}</style>',
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="38">ratio to the baseline (higher is better); black tick = target; orange = below target</text>`,
  ];
  for (const tick of [0, 0.5, 1, 1.5, 2, 3, 4].filter((t) => t <= max)) {
    parts.push(
      `<line class="axis" x1="${x(tick)}" y1="${top - 4}" x2="${x(tick)}" y2="${height - 30}"/>`,
      `<text x="${x(tick)}" y="${height - 14}" text-anchor="middle">${tick}×</text>`,
    );
  }
  shown.forEach((row, i) => {
    const y = top + i * (barHeight + gap);
    const ratio = row.ratio as number;
    const target = targetFor(row);
    const label = `${row.name} (${row.store}) vs ${row.baseline}`;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escape(label.length > 78 ? `${label.slice(0, 77)}…` : label)}</text>`,
      `<rect class="${target !== undefined && ratio < target ? 'miss' : 'bar'}" x="${labelWidth}" y="${y}" width="${Math.max(1, x(ratio) - labelWidth)}" height="${barHeight}"/>`,
      `<text x="${x(ratio) + 4}" y="${y + 13}">${ratio}</text>`,
    );
    if (target !== undefined) {
      parts.push(
        `<line class="target" x1="${x(target)}" y1="${y - 2}" x2="${x(target)}" y2="${y + barHeight + 2}"/>`,
      );
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
