import { Command, Option } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { MAX_DIRECTORY_FILE_BYTES, parseDirectoryFile, type DirectoryEntry } from '../auth/directory-file.js';
import { createUserDirectory, type UserPair } from '../auth/user-directory.js';
import { userScope } from '../families/families.js';
import type { OperationStore } from '../store/store.js';
import { addStoreOptions, storeFor, type StoreFlags } from './store-options.js';

interface ImportFlags extends StoreFlags {
  tenant?: string;
}

export function usersCommand(): Command {
  const users = new Command('users').description('The user directory: which object id each UPN belongs to.');
  users.addCommand(
    addStoreOptions(new Command('import'))
      .description(
        'Load UPN → object id pairs (JSON or CSV of id,userPrincipalName[,tenantId]) into the shared directory.',
      )
      .argument('<file>', 'JSON array (or Graph list-users response) or CSV with a header line')
      .addOption(new Option('--tenant <tid>', 'tenant of entries that name none').env('LONGRUN_TENANT'))
      .addHelpText(
        'after',
        '\nExamples:\n  longrun users import users.csv --tenant 11111111-2222-3333-4444-555555555555\n' +
          '  longrun users import users.json --postgres postgres://db/longrun\n',
      )
      .action(async (file: string, flags: ImportFlags) => {
        const { store } = storeFor(flags);
        try {
          await store.migrate();
          const entries = await readDirectoryFile(file, flags.tenant);
          const changed = await importDirectory(store, entries);
          console.log(`${entries.length} users read, ${changed.length} pairs added or changed`);
        } catch (e) {
          console.error(`longrun users import: ${(e as Error).message}`);
          process.exitCode = 1;
        } finally {
          await store.close();
        }
      }),
  );
  return users;
}

export async function readDirectoryFile(file: string, tenant: string | undefined): Promise<DirectoryEntry[]> {
  const info = await stat(file);
  if (info.size > MAX_DIRECTORY_FILE_BYTES) {
    throw new Error(`${file} is larger than ${MAX_DIRECTORY_FILE_BYTES / 1024 / 1024} MiB.`);
  }
  return parseDirectoryFile(await readFile(file, 'utf8'), tenant);
}

/** Binds every pair (an operator may rebind) and moves operations filed under a UPN to its object id. */
export async function importDirectory(store: OperationStore, entries: DirectoryEntry[]): Promise<UserPair[]> {
  const directory = createUserDirectory();
  if (store.users) directory.useStore(store.users);
  if (store.moveScope) {
    directory.onBound = async ({ tenantId, upn, objectId }) => {
      await store.moveScope!(tenantId, userScope(upn), userScope(objectId));
    };
  }
  const changed: UserPair[] = [];
  for (const entry of entries) {
    changed.push(...(await directory.importPairs(entry.tenantId, [entry])));
  }
  return changed;
}
