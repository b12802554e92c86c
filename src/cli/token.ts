import { Command, Option } from 'commander';
import { DEV_TOKEN_DEFAULTS, mintToken, type MintOptions } from '../auth/tokens.js';
import { DEFAULT_DB_FILE } from '../longrun.js';
import { addAuthOptions, authConfigFrom, dataDirOf, type AuthCliFlags } from './auth-options.js';

interface TokenFlags extends AuthCliFlags {
  db: string;
  scopes?: string;
  roles?: string;
  wids?: string;
  oid?: string;
  upn?: string;
  tid?: string;
  expires?: string;
}

const list = (text: string | undefined) => text?.split(/[\s,]+/).filter(Boolean);

export function tokenCommand(): Command {
  return addAuthOptions(new Command('token'))
    .description('Mint a bearer token with the dev key (or LONGRUN_AUTH_SECRET) of the server using --db.')
    .addOption(
      new Option('--db <file>', 'the server’s SQLite file; its folder holds the dev key')
        .env('LONGRUN_DB')
        .default(DEFAULT_DB_FILE),
    )
    .option('--scopes <list>', 'delegated permissions (scp), space- or comma-separated')
    .option(
      '--roles <list>',
      'application permissions (roles); without --scopes the token is an application token',
    )
    .option(
      '--wids <list>',
      'directory role template ids, e.g. 62e90394-69f5-4237-9190-012177145e10 (Global Administrator)',
    )
    .option('--oid <id>', 'object id of the user or app')
    .option('--upn <upn>', 'user principal name')
    .option('--tid <id>', 'tenant id')
    .option('--expires <lifetime>', 'lifetime: 45s, 30m, 1h, 7d')
    .addHelpText(
      'after',
      `
Without --scopes or --roles it prints the dev token (a delegated admin with every permission).

Examples:
  longrun token
  longrun token --scopes "LongRun.Read.All" --expires 30m
  longrun token --roles "RoleManagementAlert.Read.Directory" --tid 11111111-1111-1111-1111-111111111111
  curl -H "Authorization: Bearer $(longrun token)" http://127.0.0.1:8080/v1.0/operations
`,
    )
    .action(async (flags: TokenFlags) => {
      const config = await authConfigFrom(flags, dataDirOf(flags.db));
      const custom = flags.scopes !== undefined || flags.roles !== undefined;
      const options: MintOptions = custom
        ? { tid: DEV_TOKEN_DEFAULTS.tid, scopes: list(flags.scopes), roles: list(flags.roles) }
        : { ...DEV_TOKEN_DEFAULTS };
      if (flags.wids !== undefined) options.wids = list(flags.wids);
      if (flags.oid) options.oid = flags.oid;
      if (flags.upn) options.upn = flags.upn;
      if (flags.tid) options.tid = flags.tid;
      if (flags.expires) options.expires = flags.expires;
      try {
        process.stdout.write((await mintToken(config, options)) + '\n');
      } catch (e) {
        console.error(`longrun token: ${(e as Error).message}`);
        process.exit(1);
      }
    });
}
