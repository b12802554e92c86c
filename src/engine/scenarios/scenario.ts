/**
 * Built-in scenarios: handlers that behave the way Graph's documentation shows each action's operation
 * behaving (notStarted → running → succeeded, or failed), with timing and outcome set by configuration so
 * a client's tests can make one slow, fast or failing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, type HandlerContext } from '../handler.js';

export interface ScenarioSettings {
  /** How long the operation runs; default 2000 ms. */
  durationMs: number;
  /** How it ends; default succeed. */
  outcome: 'succeed' | 'fail';
  /** statusDetail when it fails. */
  failureMessage: string;
}

export type ScenarioConfig = Partial<Record<string, Partial<ScenarioSettings>>>;

export const DEFAULT_SCENARIO: ScenarioSettings = {
  durationMs: 2000,
  outcome: 'succeed',
  failureMessage: 'The operation failed (configured outcome).',
};

/** Settings of one scenario: its own entry over the `default` entry over the built-in defaults. */
export function settingsFor(config: ScenarioConfig, scenario: string): ScenarioSettings {
  return { ...DEFAULT_SCENARIO, ...config.default, ...config[scenario] };
}

/**
 * Runs the common walk: `steps` progress reports spread over the configured duration, then the configured
 * outcome. Aborts promptly when the signal does (cancel, timeout, shutdown).
 */
export async function walk(ctx: HandlerContext, settings: ScenarioSettings, steps = 4): Promise<void> {
  for (let i = 1; i <= steps; i++) {
    await sleep(settings.durationMs / steps, undefined, { signal: ctx.signal });
    if (i < steps) ctx.progress((i * 100) / steps);
  }
  if (settings.outcome === 'fail') throw new PermanentError(settings.failureMessage, 'scenarioFailed');
}
