#!/usr/bin/env node
// Generates docs/command-reference.md from the --help of every command (the built Commander tree in
// dist/, so run `npm run build` first).
//   node scripts/command-reference.mjs            print it
//   node scripts/command-reference.mjs --write    also write docs/command-reference.md
// test/unit/command-docs.test.ts fails when the file differs from what this prints.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandReference, distParts } from './lib/command-docs.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const text = await commandReference(await distParts());
process.stdout.write(text);
if (process.argv.includes('--write')) writeFileSync(`${root}docs/command-reference.md`, text);
