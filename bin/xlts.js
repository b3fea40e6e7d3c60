#!/usr/bin/env node
// Entry for `npx xlts`: the toolstack is TypeScript run through tsx, so register its loader first.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
