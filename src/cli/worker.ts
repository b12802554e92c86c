import { Command } from 'commander';
import pino from 'pino';
import { createLongrun } from '../longrun.js';
import { shutdownOn } from './serve.js';
import { addStoreOptions, storeFor, type StoreFlags } from './store-options.js';
import { addWorkerOptions, parseScenarios, workerSettings, type WorkerFlags } from './worker-options.js';

interface WorkerCommandFlags extends StoreFlags, WorkerFlags {
  logLevel: string;
}

export function workerCommand(): Command {
  return addWorkerOptions(addStoreOptions(new Command('worker')))
    .description(
      'Run workers only (no HTTP): they take due operations from the same database as the servers.',
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .addHelpText(
      'after',
      `
Examples:
  longrun worker --db ./data/longrun.db            # next to a 'longrun serve --no-workers' on the same file
  longrun worker --postgres postgres://db/longrun --concurrency 32
`,
    )
    .action(async (flags: WorkerCommandFlags) => {
      const log = pino({ level: flags.logLevel });
      const { store, description } = storeFor(flags);
      const node = await createLongrun({
        store,
        scenarios: parseScenarios(flags.scenarios),
        worker: { ...workerSettings(flags), logger: log.child({ component: 'worker' }) },
        logger: false,
      });
      log.info(
        { database: description, worker: node.worker?.id },
        `longrun worker running on ${description}`,
      );
      shutdownOn(['SIGINT', 'SIGTERM'], async (signal) => {
        log.info({ signal }, 'shutting down: finishing running handlers');
        await node.close();
      });
    });
}
