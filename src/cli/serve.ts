import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { createLongrun, DEFAULT_DB_FILE } from '../longrun.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the service (HTTP API and workers) on the embedded SQLite file or PostgreSQL.')
    .addOption(new Option('--port <n>', 'port to listen on').env('PORT').default('8080'))
    .addOption(new Option('--host <host>', 'address to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--db <file>', 'SQLite database file').env('LONGRUN_DB').default(DEFAULT_DB_FILE))
    .addOption(
      new Option('--public-url <url>', 'base URL clients use (for Location and @odata.context)').env('LONGRUN_PUBLIC_URL'),
    )
    .addOption(new Option('--auth <mode>', 'authentication: jwt (default) or none').env('LONGRUN_AUTH').choices(['jwt', 'none']).default('jwt'))
    .addOption(new Option('--log-level <level>', 'pino log level').env('LONGRUN_LOG_LEVEL').default('info'))
    .addHelpText('after', '\nExamples:\n  longrun serve\n  longrun serve --port 9000 --db /var/lib/longrun/ops.db\n')
    .action(async (opts: { port: string; host: string; db: string; publicUrl?: string; logLevel: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        console.error(`longrun: --port must be a number from 0 to 65535, not '${opts.port}'`);
        process.exit(2);
      }
      const dbFile = resolve(opts.db);
      const node = await createLongrun({ dbFile, publicUrl: opts.publicUrl, logger: { level: opts.logLevel } });
      const url = await node.listen(port, opts.host);
      node.app.log.info({ url, database: dbFile }, `longrun listening on ${url} (SQLite ${dbFile})`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        node.app.log.info({ signal }, 'shutting down');
        await node.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}
