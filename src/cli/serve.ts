import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ScenarioConfig } from '../engine/scenarios/scenario.js';
import type { FastifyBaseLogger } from 'fastify';
import type { AuthConfig } from '../auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../auth/tokens.js';
import { createLongrun, DEFAULT_DB_FILE } from '../longrun.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { addAuthOptions, authConfigFrom, dataDirOf, securityFor, type AuthCliFlags } from './auth-options.js';

interface ServeFlags extends AuthCliFlags {
  port: string;
  host: string;
  db: string;
  postgres?: string;
  publicUrl?: string;
  logLevel: string;
  scenarios?: string;
  concurrency: string;
  leaseMs: string;
  pollMs: string;
  retentionHours: string;
  retryAfter: string;
  workers: boolean;
  webhookAllowHosts?: string;
  webhookAllowPrivate?: boolean;
  webhookAllowHttp?: boolean;
  maxWait: string;
}

export function serveCommand(): Command {
  return addAuthOptions(new Command('serve'))
    .description('Run the service (HTTP API and workers) on the embedded SQLite file, or on PostgreSQL.')
    .addOption(new Option('--port <n>', 'port to listen on').env('PORT').default('8080'))
    .addOption(new Option('--host <host>', 'address to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--db <file>', 'SQLite database file').env('LONGRUN_DB').default(DEFAULT_DB_FILE))
    .addOption(
      new Option(
        '--postgres <url>',
        'PostgreSQL connection URL: many nodes share one database (env LONGRUN_POSTGRES_URL or DATABASE_URL)',
      ),
    )
    .addOption(
      new Option('--public-url <url>', 'base URL clients use (for Location and @odata.context)').env(
        'LONGRUN_PUBLIC_URL',
      ),
    )
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
      new Option('--lease-ms <ms>', 'lease length; a dead worker’s operations are retaken after it')
        .env('LONGRUN_LEASE_MS')
        .default('30000'),
    )
    .addOption(
      new Option('--poll-ms <ms>', 'how often idle workers look for due work')
        .env('LONGRUN_POLL_MS')
        .default('1000'),
    )
    .addOption(
      new Option('--retention-hours <h>', 'keep finished operations this long (at least 24)')
        .env('LONGRUN_RETENTION_HOURS')
        .default('168'),
    )
    .addOption(
      new Option('--retry-after <s>', 'Retry-After seconds on 202s and unfinished reads')
        .env('LONGRUN_RETRY_AFTER')
        .default('1'),
    )
    .option('--no-workers', 'serve HTTP only; run handlers elsewhere (longrun worker)')
    .addOption(
      new Option('--webhook-allow-hosts <list>', 'notification hosts always allowed, comma-separated').env(
        'LONGRUN_WEBHOOK_ALLOW_HOSTS',
      ),
    )
    .option(
      '--webhook-allow-private',
      'allow webhooks to loopback and private networks (off: SSRF protection)',
    )
    .option('--webhook-allow-http', 'allow http:// notification URLs (off: https only)')
    .option('--max-wait <s>', 'longest Prefer: wait honoured, in seconds', '60')
    .addOption(new Option('--log-level <level>', 'pino log level').env('LONGRUN_LOG_LEVEL').default('info'))
    .addHelpText(
      'after',
      `
Examples:
  longrun serve
  longrun serve --port 9000 --db /var/lib/longrun/ops.db
  longrun serve --scenarios '{"default":{"durationMs":500},"roleManagementAlertRefresh":{"outcome":"fail"}}'
`,
    )
    .action(async (flags: ServeFlags) => {
      const port = integer('--port', flags.port, 0, 65535);
      const dbFile = resolve(flags.db);
      const authConfig = await authConfigFrom(flags, dataDirOf(dbFile));
      const postgresUrl = flags.postgres ?? process.env.LONGRUN_POSTGRES_URL ?? process.env.DATABASE_URL;
      const node = await createLongrun({
        dbFile,
        store: postgresUrl ? new PostgresStore({ connectionString: postgresUrl }) : undefined,
        security: securityFor(authConfig),
        publicUrl: flags.publicUrl,
        logger: { level: flags.logLevel },
        scenarios: parseScenarios(flags.scenarios),
        retryAfterSeconds: integer('--retry-after', flags.retryAfter, 0, 3600),
        maxWaitSeconds: integer('--max-wait', flags.maxWait, 0, 3600),
        webhooks: {
          allowPrivateNetworks: flags.webhookAllowPrivate ?? false,
          allowHttp: flags.webhookAllowHttp ?? false,
          allowedHosts: (flags.webhookAllowHosts ?? '')
            .split(',')
            .map((h) => h.trim().toLowerCase())
            .filter(Boolean),
        },
        worker: flags.workers
          ? {
              concurrency: integer('--concurrency', flags.concurrency, 1, 10_000),
              leaseMs: integer('--lease-ms', flags.leaseMs, 100, 86_400_000),
              pollIntervalMs: integer('--poll-ms', flags.pollMs, 10, 3_600_000),
            }
          : false,
        retention: {
          retentionMs: integer('--retention-hours', flags.retentionHours, 24, 87_600) * 3_600_000,
        },
      });
      const url = await node.listen(port, flags.host);
      const database = postgresUrl ? `PostgreSQL ${redact(postgresUrl)}` : `SQLite ${dbFile}`;
      node.app.log.info({ url, database }, `longrun listening on ${url} (${database})`);
      await announceAuth(node.app.log, authConfig, url);
      shutdownOn(['SIGINT', 'SIGTERM'], async (signal) => {
        node.app.log.info({ signal }, 'shutting down: finishing running handlers');
        await node.close();
      });
    });
}

/** Says how to authenticate: a ready-to-use dev token when the generated key is in use, a warning when auth is off. */
async function announceAuth(log: FastifyBaseLogger, config: AuthConfig, url: string): Promise<void> {
  if (config.mode === 'none') {
    log.warn(
      'authentication is OFF (--auth none): anyone who can reach this port can read and change every operation',
    );
    return;
  }
  if (!config.devKeyFile) {
    log.info(
      { jwksUrl: config.jwksUrl, issuer: config.issuer, audience: config.audience },
      'bearer tokens required',
    );
    return;
  }
  const token = await mintToken(config, DEV_TOKEN_DEFAULTS);
  log.info(
    { devKeyFile: config.devKeyFile },
    'dev signing key in use; mint more tokens with `longrun token`',
  );
  process.stdout.write(
    `\nDev token (delegated admin, 12 h):\n${token}\n\nTry:\n  curl -H "Authorization: Bearer ${token}" ${url}/v1.0/operations\n\n`,
  );
}

/** A connection URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`longrun: ${flag} must be a whole number from ${min} to ${max}, not '${text}'`);
    process.exit(2);
  }
  return n;
}

export function parseScenarios(text: string | undefined): ScenarioConfig | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text.trim().startsWith('{') ? text : readFileSync(text, 'utf8')) as ScenarioConfig;
  } catch (e) {
    console.error(`longrun: --scenarios must be JSON or a JSON file: ${(e as Error).message}`);
    process.exit(2);
  }
}

export function shutdownOn(signals: NodeJS.Signals[], stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  for (const signal of signals) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      stop(signal).then(
        () => process.exit(0),
        (e) => {
          console.error(e);
          process.exit(1);
        },
      );
    });
  }
}
