#!/usr/bin/env node
/** The `longrun` command. */
import { Command } from 'commander';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';

const program = new Command()
  .name('longrun')
  .description('Long-running operations with the Microsoft Graph longRunningOperation contract.')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(tokenCommand());

await program.parseAsync(process.argv);
