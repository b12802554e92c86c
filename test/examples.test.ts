/**
 * The example apps run as real processes and do what their READMEs say: the report export's action
 * answers 202 + Location, the client sees progress and then `succeeded` with the report's location,
 * cancel ends the operation canceled, and a PermanentError fails it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('examples/report-export', () => {
  it('runs from action to succeeded, and cancels', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/report-export/main.ts'], {
      timeout: 120_000,
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^action: 202 Location http:\/\/127\.0\.0\.1:\d+\/v1\.0\/operations\/[0-9a-f-]{36}$/,
    );
    // Progress in between, in order, then succeeded.
    const progress = lines
      .filter((l) => /^client: running \d+%/.test(l))
      .map((l) => Number(/(\d+)%/.exec(l)![1]));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p >= 0 && p <= 100)).toBe(true);
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(lines).toContain('client: done succeeded https://files.example.com/reports/q3-sales.csv');
    expect(lines).toContain('cancel: canceled');
    expect(lines).toContain('operation(location): canceled');
    expect(lines).toContain('permanent error: failed reportNotFound');
  });
});
