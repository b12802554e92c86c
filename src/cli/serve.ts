import { Command, Option } from 'commander';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { AuthConfig } from '../auth/config.js';
import { DEV_TOKEN_DEFAULTS, mintToken } from '../auth/tokens.js';
import { createLongrun } from '../longrun.js';
import { deriveDataKey, parseDataKey } from '../service/secret-box.js';
import { addStoreOptions, storeFor, type StoreFlags } from './store-options.js';
import {
  addWorkerOptions,
  integer,
  parseScenarios,
  workerSettings,
  type WorkerFlags,
} from './worker-options.js';
import { importDirectory, readDirectoryFile } from './users.js';
import { addAuthOptions, authConfigFrom, dataDirOf, securityFor, type AuthCliFlags } from './auth-options.js';
import { addTlsOptions, tlsFrom, type TlsFlags } from './tls-options.js';
import { logFormatOption, loggerOptions, resolveLogFormat, type LogFormat } from './log-format.js';

interface ServeFlags extends AuthCliFlags, StoreFlags, WorkerFlags, TlsFlags {
  port: string;
  host: string;
  publicUrl?: string;
  logLevel: string;
  logFormat?: LogFormat;
  retentionHours: string;
  retryAfter: string;
  workers: boolean;
  webhookAllowHosts?: string;
  webhookAllowPrivate?: boolean;
  webhookAllowHttp?: boolean;
  maxWait: string;
  directory?: string;
  tenant?: string;
  trustProxy?: string;
  maxConnections: string;
  headersTimeoutMs: string;
  requestTimeoutMs: string;
  idleTimeoutMs?: string;
  keepAliveTimeoutMs: string;
}

export function serveCommand(): Command {
  return addTlsOptions(addWorkerOptions(addStoreOptions(addAuthOptions(new Command('serve')))))
    .description('Run the service (HTTP API and workers) on the embedded SQLite file, or on PostgreSQL.')
    .addOption(new Option('--port <n>', 'port to listen on').env('PORT').default('8080'))
    .addOption(new Option('--host <host>', 'address to listen on').env('HOST').default('127.0.0.1'))
    .addOption(
      new Option('--public-url <url>', 'base URL clients use (for Location and @odata.context)').env(
        'LONGRUN_PUBLIC_URL',
      ),
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
    .addOption(
      new Option(
        '--directory <file>',
        'load UPN → object id pairs at start (see `longrun users import`)',
      ).env('LONGRUN_DIRECTORY'),
    )
    .addOption(
      new Option('--tenant <tid>', 'tenant of --directory entries that name none').env('LONGRUN_TENANT'),
    )
    .addOption(
      new Option(
        '--trust-proxy <value>',
        "believe X-Forwarded-* from: 'true' (any proxy), a hop count, or addresses/CIDRs, comma-separated",
      ).env('LONGRUN_TRUST_PROXY'),
    )
    .addOption(
      new Option('--max-connections <n>', 'open connections at most')
        .env('LONGRUN_MAX_CONNECTIONS')
        .default('10000'),
    )
    .addOption(new Option('--headers-timeout-ms <ms>', 'time to receive request headers').default('10000'))
    .addOption(new Option('--request-timeout-ms <ms>', 'time to receive a whole request').default('30000'))
    .addOption(
      new Option('--idle-timeout-ms <ms>', 'close connections silent this long (default: max wait + 30 s)'),
    )
    .addOption(
      new Option('--keep-alive-timeout-ms <ms>', 'idle time between kept-alive requests').default('5000'),
    )
    .addOption(new Option('--log-level <level>', 'pino log level').env('LONGRUN_LOG_LEVEL').default('info'))
    .addOption(logFormatOption())
    .addHelpText(
      'after',
      `
Examples:
  longrun serve
  longrun serve --port 9000 --db /var/lib/longrun/ops.db
  longrun serve --tls                       # HTTPS + HTTP/2 with a development certificate
  longrun serve --tls-cert cert.pem --tls-key key.pem
  longrun serve --scenarios '{"default":{"durationMs":500},"roleManagementAlertRefresh":{"outcome":"fail"}}'
`,
    )
    .action(async (flags: ServeFlags) => {
      const port = integer('--port', flags.port, 0, 65535);
      const dbFile = resolve(flags.db);
      const authConfig = await authConfigFrom(flags, dataDirOf(dbFile));
      const tls = await tlsFrom(flags, dataDirOf(dbFile)).catch((e: Error) => {
        // A usage error: one line that names the option, no stack.
        console.error(`error: ${e.message}`);
        process.exit(2);
      });
      const { store, description: database } = storeFor(flags);
      // Read before anything starts, so a bad file stops the server with its reason.
      const directoryEntries = flags.directory ? await readDirectoryFile(flags.directory, flags.tenant) : [];
      const node = await createLongrun({
        store,
        security: securityFor(authConfig),
        publicUrl: flags.publicUrl,
        trustProxy: trustProxyFlag(flags.trustProxy),
        dataKey: dataKeyFor(authConfig),
        limits: {
          maxConnections: integer('--max-connections', flags.maxConnections, 1, 1_000_000),
          headersTimeoutMs: integer('--headers-timeout-ms', flags.headersTimeoutMs, 1, 3_600_000),
          requestTimeoutMs: integer('--request-timeout-ms', flags.requestTimeoutMs, 1, 3_600_000),
          idleTimeoutMs:
            flags.idleTimeoutMs === undefined
              ? undefined
              : integer('--idle-timeout-ms', flags.idleTimeoutMs, 1, 86_400_000),
          keepAliveTimeoutMs: integer('--keep-alive-timeout-ms', flags.keepAliveTimeoutMs, 1, 3_600_000),
        },
        tls: tls?.tls,
        // Passed through to Fastify, which takes pino options (the pretty stream among them).
        logger: await loggerOptions(flags.logLevel, resolveLogFormat(flags.logFormat)),
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
        worker: flags.workers ? workerSettings(flags) : false,
        retention: {
          retentionMs: integer('--retention-hours', flags.retentionHours, 24, 87_600) * 3_600_000,
        },
      });
      if (directoryEntries.length > 0) {
        const changed = await importDirectory(node.store, directoryEntries);
        node.app.log.info(
          { file: flags.directory, users: directoryEntries.length, changed: changed.length },
          'user directory loaded',
        );
      }
      const url = await node.listen(port, flags.host);
      node.app.log.info({ url, database }, `longrun listening on ${url} (${database})`);
      if (tls?.devCertFile) announceDevCertificate(node.app.log, tls.devCertFile);
      await announceAuth(node.app.log, authConfig, url);
      shutdownOn(['SIGINT', 'SIGTERM'], async (signal) => {
        node.app.log.info({ signal }, 'shutting down: finishing running handlers');
        await node.close();
      });
    });
}

/**
 * The key that seals secrets at rest: LONGRUN_DATA_KEY, else one derived from the HS256 token key (which
 * every node verifying the same tokens shares), else none (a key of the process's own).
 */
function dataKeyFor(config: AuthConfig): Uint8Array | undefined {
  const configured = process.env.LONGRUN_DATA_KEY;
  if (configured) return parseDataKey(configured);
  return config.mode === 'jwt' && config.secret ? deriveDataKey(config.secret) : undefined;
}

/** `--trust-proxy`: true/false, a hop count, or a list of addresses and CIDR ranges. */
export function trustProxyFlag(value: string | undefined): boolean | number | string | undefined {
  if (value === undefined || value === '' || value === 'false') return undefined;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return integer('--trust-proxy', value, 1, 100);
  for (const entry of value.split(',')) {
    const [address, prefix] = entry.trim().split('/');
    if (isIP(address) === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      console.error(
        `longrun: --trust-proxy: '${entry.trim()}' is not an address or CIDR range (nor true, false, a hop count)`,
      );
      process.exit(2);
    }
  }
  return value;
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
    const unchecked = [!config.issuer && 'issuer (iss)', !config.audience && 'audience (aud)'].filter(
      Boolean,
    );
    if (unchecked.length > 0) {
      log.warn(
        { unchecked },
        `tokens are accepted with ANY ${unchecked.join(' and ')}: every token signed with this key is trusted ` +
          'whatever it was issued for; set --auth-issuer and --auth-audience (LONGRUN_AUTH_ISSUER, LONGRUN_AUTH_AUDIENCE)',
      );
    }
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

/** Where the development certificate is, and how a Node client trusts it. */
function announceDevCertificate(log: FastifyBaseLogger, certFile: string): void {
  log.info({ certFile }, 'TLS with the development certificate (self-signed, for localhost)');
  process.stdout.write(
    `\nTLS: development certificate ${certFile}\nTrust it in Node.js clients with:\n  NODE_EXTRA_CA_CERTS=${certFile}\n(or longrun ops --ca ${certFile}, curl --cacert ${certFile})\n\n`,
  );
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
