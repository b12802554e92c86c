/** The engine flags `serve` and `worker` share: scenario timing, concurrency, lease and polling. */
import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { ScenarioConfig } from '../engine/scenarios/scenario.js';
import type { WorkerOptions } from '../engine/worker.js';

export interface WorkerFlags {
  scenarios?: string;
  concurrency: string;
  prefetch?: string;
  leaseMs: string;
  pollMs: string;
}

export function addWorkerOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--scenarios <json-or-file>',
        'timing/outcome of built-in scenarios, e.g. {"default":{"durationMs":500}}',
      ).env('LONGRUN_SCENARIOS'),
    )
    .addOption(
      new Option('--concurrency <n>', 'handlers run at once by this node')
        .env('LONGRUN_CONCURRENCY')
        .default('8'),
    )
    .addOption(
      new Option(
        '--prefetch <n>',
        'operations claimed ahead of a free slot while handlers are quick (default: the concurrency; 0: off)',
      ).env('LONGRUN_PREFETCH'),
    )
    .addOption(
      new Option('--lease-ms <ms>', 'lease length; a dead worker’s operations are retaken after it')
        .env('LONGRUN_LEASE_MS')
        .default('30000'),
    )
    .addOption(
      new Option('--poll-ms <ms>', 'how often idle workers look for due work')
        .env('LONGRUN_POLL_MS')
        .default('1000'),
    );
}

export function workerSettings(flags: WorkerFlags): WorkerOptions {
  return {
    concurrency: integer('--concurrency', flags.concurrency, 1, 10_000),
    ...(flags.prefetch !== undefined && { prefetch: integer('--prefetch', flags.prefetch, 0, 10_000) }),
    leaseMs: integer('--lease-ms', flags.leaseMs, 100, 86_400_000),
    pollIntervalMs: integer('--poll-ms', flags.pollMs, 10, 3_600_000),
  };
}

/** A whole-number flag within bounds; exits with a clear message otherwise. */
export function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`longrun: ${flag} must be a whole number from ${min} to ${max}, not '${text}'`);
    process.exit(2);
  }
  return n;
}

/** `--scenarios`: JSON text, or the path of a JSON file. */
export function parseScenarios(text: string | undefined): ScenarioConfig | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text.trim().startsWith('{') ? text : readFileSync(text, 'utf8')) as ScenarioConfig;
  } catch (e) {
    console.error(`longrun: --scenarios must be JSON or a JSON file: ${(e as Error).message}`);
    process.exit(2);
  }
}
