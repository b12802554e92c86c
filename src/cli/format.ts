/** How the CLI shows operations to people: aligned tables, coloured statuses, progress bars, ages. */
import type { Operation } from '../client/types.js';

const COLOURS: Record<string, string> = {
  succeeded: '\u001b[32m',
  failed: '\u001b[31m',
  running: '\u001b[33m',
  notStarted: '\u001b[90m',
  canceled: '\u001b[35m',
  unknownFutureValue: '\u001b[35m',
};
const RESET = '\u001b[0m';

export function useColour(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

export function colourStatus(status: string, colour: boolean): string {
  return colour && COLOURS[status] ? `${COLOURS[status]}${status}${RESET}` : status;
}

/** `microsoft.graph.richLongRunningOperation` → `richLongRunningOperation`. */
export function shortType(op: Operation): string {
  return (op['@odata.type'] ?? '#microsoft.graph.longRunningOperation').replace(/^#microsoft\.graph\./, '');
}

export function progressOf(op: Operation): number | undefined {
  const o = op as { percentageComplete?: number | null; percentageCompleted?: number | null };
  const value = o.percentageComplete ?? o.percentageCompleted;
  return typeof value === 'number' ? value : undefined;
}

export function age(createdDateTime: string | null | undefined, now = Date.now()): string {
  const then = createdDateTime ? Date.parse(createdDateTime) : NaN;
  if (Number.isNaN(then)) return '-';
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function progressBar(percent: number | undefined, width = 20): string {
  if (percent === undefined) return `[${'.'.repeat(width)}]    -`;
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}%`;
}

// eslint-disable-next-line no-control-regex -- ANSI colour codes are what it strips
const ANSI = /\u001b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, '').length;

/**
 * Columns padded to their widest cell (colour codes don't count). With `maxWidth` (a terminal's width)
 * the last column is cut to fit.
 */
export function table(header: string[], rows: string[][], maxWidth?: number): string {
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const last = header.length - 1;
  const room = maxWidth ? maxWidth - widths.slice(0, last).reduce((a, w) => a + w + 2, 0) : Infinity;
  const fit = (cell: string) => (visible(cell) > room && room > 1 ? cell.slice(0, room - 1) + '…' : cell);
  return [header, ...rows]
    .map((cells) =>
      cells
        .map((cell, i) => (i === last ? fit(cell) : cell + ' '.repeat(widths[i] - visible(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function operationRows(ops: Operation[], colour: boolean): string[][] {
  return ops.map((op) => {
    const p = progressOf(op);
    return [
      op.id,
      shortType(op),
      colourStatus(op.status ?? '-', colour),
      p === undefined ? '-' : `${p}%`,
      age(op.createdDateTime),
      op.resourceLocation ?? '',
    ];
  });
}

export const OPERATION_HEADER = ['ID', 'TYPE', 'STATUS', 'PROGRESS', 'AGE', 'RESOURCE'];
