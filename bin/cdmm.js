#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so the command works straight from a checkout after `npm ci`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// Exit explicitly: open native handles (DuckDB, thread pools) must not keep a finished command alive.
process.exit(code);
