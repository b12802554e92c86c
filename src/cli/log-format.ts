/**
 * How `longrun serve` writes its log: readable lines for a person at a terminal, pino's JSON (one object a
 * line) for everything else: files, pipes, log shippers. `--log-format` overrides the guess.
 */
import { Option } from 'commander';
import type { DestinationStream } from 'pino';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function logFormatOption(): Option {
  return new Option(
    '--log-format <format>',
    'json, or pretty (readable lines); default: pretty on a terminal',
  )
    .choices(LOG_FORMATS)
    .env('LONGRUN_LOG_FORMAT');
}

/** The format asked for, else pretty when stdout is a terminal and JSON when it is not. */
export function resolveLogFormat(
  asked: LogFormat | undefined,
  stdoutIsTty = process.stdout.isTTY,
): LogFormat {
  return asked ?? (stdoutIsTty ? 'pretty' : 'json');
}

/**
 * Logger options for the HTTP app. Pretty printing runs in-process on a synchronous stream (not pino's
 * worker-thread transport): the lines a shutting-down server writes last are the ones people read.
 * Loaded only when used, so JSON logging (services, tests) does not pay for pino-pretty's start-up.
 */
export async function loggerOptions(
  level: string,
  format: LogFormat,
): Promise<{ level: string; stream?: DestinationStream }> {
  if (format === 'json') return { level };
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
  });
  return { level, stream };
}
