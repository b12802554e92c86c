import { Command } from 'commander';
import { addStoreOptions, storeFor, type StoreFlags } from './store-options.js';

export function migrateCommand(): Command {
  return addStoreOptions(new Command('migrate'))
    .description('Create or upgrade the database schema, then exit (servers also do this when they start).')
    .addHelpText(
      'after',
      '\nExamples:\n  longrun migrate --db ./data/longrun.db\n  longrun migrate --postgres postgres://db/longrun\n',
    )
    .action(async (flags: StoreFlags) => {
      const { store, description } = storeFor(flags);
      try {
        await store.migrate();
        console.log(`schema up to date: ${description}`);
      } catch (e) {
        console.error(`longrun migrate: ${(e as Error).message}`);
        process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
