/**
 * `longrun ops`: operations on a server, for people (aligned tables, colours, progress bars) and scripts
 * (`--json`). Every call goes through the typed client (src/client), so it works against any server that
 * speaks Graph's contract, Microsoft Graph included.
 */
import { Command, Option } from 'commander';
import { createClient, type LongrunClient } from '../client/client.js';
import { GraphRequestError, OperationFailedError } from '../client/errors.js';
import type { Operation } from '../client/types.js';
import { resolveUrl } from '../client/url.js';
import { readFileSync } from 'node:fs';
import {
  colourStatus,
  OPERATION_HEADER,
  operationRows,
  progressBar,
  progressOf,
  table,
  useColour,
} from './format.js';
import { followStream } from './stream.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080/v1.0';

interface ServerFlags {
  url: string;
  token?: string;
  ca?: string;
  json?: boolean;
}

/** Exit codes of `wait` and `watch`. */
export const EXIT = { succeeded: 0, failed: 1, canceled: 2, timeout: 3, error: 1 } as const;

function serverOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--url <url>', 'the server, with the version').env('LONGRUN_URL').default(DEFAULT_URL),
    )
    .addOption(new Option('--token <token>', 'bearer token').env('LONGRUN_TOKEN'))
    .addOption(
      new Option('--ca <file>', "PEM certificate(s) to trust besides the system's (e.g. serve --tls's)").env(
        'LONGRUN_CA_FILE',
      ),
    )
    .option('--json', 'print JSON for scripts')
    .hook('preAction', async (_command, action) => {
      const { ca } = action.opts<ServerFlags>();
      if (!ca) return;
      try {
        // Loaded only when asked for (undici); global, so event streams (stream.ts) trust it as well.
        const { trustGlobally } = await import('../client/node-tls.js');
        trustGlobally(readCa(ca));
      } catch (e) {
        console.error(`error: ${(e as Error).message}`);
        process.exit(EXIT.error);
      }
    });
}

function clientFor(flags: ServerFlags): LongrunClient {
  return createClient({
    baseUrl: flags.url.replace(/\/$/, ''),
    getToken: flags.token ? () => flags.token! : undefined,
    includeUnknownEnumMembers: true,
  });
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(
      `--ca: can't read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`,
    );
  }
}

/** Runs a command body; Graph errors and unreachable servers become one line on stderr and exit 1. */
function run<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (e) {
      process.exitCode = EXIT.error;
      if (e instanceof GraphRequestError) console.error(`error: ${e.code}: ${e.message}`);
      else if (e instanceof TypeError && /fetch failed/.test(e.message)) {
        const flags = args.find((a): a is ServerFlags => typeof a === 'object' && a !== null && 'url' in a);
        console.error(`error: cannot reach the server at ${flags?.url ?? 'the given URL'} (${causeOf(e)})`);
      } else console.error(`error: ${(e as Error).message}`);
    }
  };
}

const causeOf = (e: Error) =>
  (e.cause as { code?: string } | undefined)?.code ?? String(e.cause ?? e.message);

function exitCodeOf(op: Operation): number {
  return op.status === 'succeeded' ? EXIT.succeeded : op.status === 'failed' ? EXIT.failed : EXIT.canceled;
}

export function opsCommand(): Command {
  const ops = new Command('ops').description(
    'List, read, wait for, watch, cancel and delete operations on a server.',
  );

  ops.addCommand(
    serverOptions(new Command('list'))
      .description('List a collection as a table.')
      .argument('[collection]', 'collection path', '/operations')
      .option('--filter <odata>', '$filter, e.g. "status eq \'running\'"')
      .option('--status <status>', 'shorthand for a status filter')
      .option('--orderby <odata>', '$orderby', 'createdDateTime desc')
      .option('--top <n>', 'rows to show (one page)', '50')
      .option('--all', 'follow @odata.nextLink to the end')
      .addHelpText(
        'after',
        `
Examples:
  longrun ops list
  longrun ops list /sites/contoso/operations --status running
  longrun ops list /beta/identityGovernance/roleManagementAlerts/operations --all --json
`,
      )
      .action(
        run(
          async (
            collection: string,
            flags: ServerFlags & {
              filter?: string;
              status?: string;
              orderby: string;
              top: string;
              all?: boolean;
            },
          ) => {
            const top = Number(flags.top);
            if (!Number.isInteger(top) || top < 1 || top > 1000)
              throw new Error('--top must be a number from 1 to 1000');
            const filters = [
              flags.filter,
              flags.status && `status eq '${flags.status.replace(/'/g, "''")}'`,
            ].filter(Boolean);
            const items: Operation[] = [];
            for await (const op of clientFor(flags).listOperations(collection, {
              filter: filters.length ? filters.map((f) => `(${f})`).join(' and ') : undefined,
              orderby: flags.orderby,
              top,
            })) {
              items.push(op);
              if (!flags.all && items.length >= top) break;
            }
            if (flags.json) return void console.log(JSON.stringify(items, null, 2));
            const colour = useColour(process.stdout);
            console.log(
              table(
                OPERATION_HEADER,
                operationRows(items, colour),
                process.stdout.isTTY ? process.stdout.columns : undefined,
              ),
            );
          },
        ),
      ),
  );

  ops.addCommand(
    serverOptions(new Command('get'))
      .description('Read one operation.')
      .argument('<operation>', 'operation URL or path, e.g. /operations/abc')
      .addHelpText(
        'after',
        '\nExamples:\n  longrun ops get /operations/job-1\n  longrun ops get https://lro.example.com/v1.0/operations/job-1 --json\n',
      )
      .action(
        run(async (operation: string, flags: ServerFlags) => {
          const op = await clientFor(flags).getOperation(operation);
          if (flags.json) return void console.log(JSON.stringify(op, null, 2));
          const colour = useColour(process.stdout);
          console.log(table(OPERATION_HEADER, operationRows([op], colour)));
          if (op.statusDetail) console.log(`\nstatusDetail: ${op.statusDetail}`);
        }),
      ),
  );

  ops.addCommand(
    serverOptions(new Command('wait'))
      .description('Wait until the operation ends; exit 0 succeeded, 1 failed, 2 canceled, 3 timed out.')
      .argument('<operation>', 'operation URL or path')
      .option('--timeout <seconds>', 'give up after this long (exit 3)')
      .addHelpText(
        'after',
        '\nExamples:\n  longrun ops wait /operations/job-1 && echo done\n  longrun ops wait /operations/job-1 --timeout 60 --json\n',
      )
      .action(
        run(async (operation: string, flags: ServerFlags & { timeout?: string }) => {
          const client = clientFor(flags);
          const poller = client.resumePoller(
            JSON.stringify({ version: 1, operationUrl: resolveUrl(flags.url.replace(/\/$/, ''), operation) }),
          );
          const bar = liveBar();
          poller.onProgress((op) => bar.show(op));
          const signal = flags.timeout ? AbortSignal.timeout(Number(flags.timeout) * 1000) : undefined;
          let final: Operation;
          try {
            final = await poller.pollUntilDone({ signal, intervalMs: 500 });
          } catch (e) {
            bar.done();
            if (e instanceof OperationFailedError) final = e.operation;
            else if (signal?.aborted) {
              console.error(
                `timed out after ${flags.timeout} s; the operation has not finished (${poller.getOperation()?.status ?? 'no status yet'})`,
              );
              return EXIT.timeout;
            } else throw e;
          }
          bar.done();
          printFinal(final, flags);
          return exitCodeOf(final);
        }),
      ),
  );

  ops.addCommand(
    serverOptions(new Command('watch'))
      .description(
        "Print every change of an operation as it happens (from the server's event stream) until it ends.",
      )
      .argument('<operation>', 'operation URL or path')
      .addHelpText('after', '\nExamples:\n  longrun ops watch /operations/job-1\n')
      .action(
        run(async (operation: string, flags: ServerFlags) => {
          const url = resolveUrl(flags.url.replace(/\/$/, ''), operation);
          const colour = useColour(process.stdout);
          let last: Operation | undefined;
          await followStream(url, flags.token, (op) => {
            last = op;
            if (flags.json) console.log(JSON.stringify(op));
            else {
              const p = progressOf(op);
              const time = new Date().toISOString().slice(11, 19);
              console.log(
                `${time}  ${colourStatus(op.status ?? '-', colour)}${p === undefined ? '' : `  ${p}%`}${op.statusDetail ? `  ${op.statusDetail}` : ''}`,
              );
            }
            return op.status !== 'notStarted' && op.status !== 'running';
          });
          return last ? exitCodeOf(last) : EXIT.error;
        }),
      ),
  );

  ops.addCommand(
    serverOptions(new Command('cancel'))
      .description('Cancel an operation (it ends canceled once its handler stops).')
      .argument('<operation>', 'operation URL or path')
      .addHelpText('after', '\nExamples:\n  longrun ops cancel /operations/job-1\n')
      .action(
        run(async (operation: string, flags: ServerFlags) => {
          await clientFor(flags).cancelOperation(operation);
          if (flags.json) console.log(JSON.stringify({ canceled: operation }));
          else console.log(`cancel requested: ${operation}`);
        }),
      ),
  );

  ops.addCommand(
    serverOptions(new Command('delete'))
      .description('Forget a finished operation.')
      .argument('<operation>', 'operation URL or path')
      .addHelpText('after', '\nExamples:\n  longrun ops delete /operations/job-1\n')
      .action(
        run(async (operation: string, flags: ServerFlags) => {
          await clientFor(flags).deleteOperation(operation);
          if (flags.json) console.log(JSON.stringify({ deleted: operation }));
          else console.log(`deleted: ${operation}`);
        }),
      ),
  );
  return ops;
}

function printFinal(op: Operation, flags: ServerFlags): void {
  if (flags.json) return void console.log(JSON.stringify(op, null, 2));
  console.log(table(OPERATION_HEADER, operationRows([op], useColour(process.stdout))));
  if (op.statusDetail) console.log(`\nstatusDetail: ${op.statusDetail}`);
}

/** A progress line on stderr, redrawn in place when it's a terminal (silent otherwise). */
function liveBar() {
  const tty = Boolean(process.stderr.isTTY);
  let shown = false;
  return {
    show(op: Operation) {
      if (!tty) return;
      const line = `${progressBar(progressOf(op))} ${op.status ?? ''}  ${op.statusDetail ?? ''}`;
      process.stderr.write(`\r\u001b[2K${line.slice(0, (process.stderr.columns || 80) - 1)}`);
      shown = true;
    },
    done() {
      if (tty && shown) process.stderr.write('\n');
      shown = false;
    },
  };
}
