/**
 * The one handler behind every built-in Graph action: it walks the operation for the configured time
 * and ends it with the result the action prepared (or the configured failure).
 */
import type { HandlerDefinition, HandlerResult } from '../handler.js';
import { settingsFor, walk, type ScenarioConfig } from './scenario.js';

export const SCENARIO_HANDLER = 'longrun.scenario';

export interface ScenarioInput {
  scenario: string;
  result: HandlerResult;
}

export function scenarioHandler(config: ScenarioConfig = {}): HandlerDefinition<ScenarioInput> {
  return {
    name: SCENARIO_HANDLER,
    maxAttempts: 3,
    async run(ctx) {
      const settings = settingsFor(config, ctx.input.scenario);
      await walk(ctx, settings);
      return ctx.input.result;
    },
  };
}
