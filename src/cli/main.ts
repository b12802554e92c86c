#!/usr/bin/env node
/** The `longrun` command. */
import { Command } from 'commander';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';
import { opsCommand } from './ops.js';
import { workerCommand } from './worker.js';
import { migrateCommand } from './migrate.js';
import { usersCommand } from './users.js';

const program = new Command()
  .name('longrun')
  .description('Long-running operations with the Microsoft Graph longRunningOperation contract.')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(workerCommand());
program.addCommand(tokenCommand());
program.addCommand(migrateCommand());
program.addCommand(opsCommand());
program.addCommand(usersCommand());

await program.parseAsync(process.argv);
