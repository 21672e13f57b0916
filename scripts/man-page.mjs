#!/usr/bin/env node
// Generates the man page man/datablast-aws.1 (roff) from the Commander definitions (the built tree in
// dist/, so run `npm run build` first); package.json's `man` ships it.
//   node scripts/man-page.mjs            print it
//   node scripts/man-page.mjs --write    also write man/datablast-aws.1
// test/unit/command-docs.test.ts fails when the file differs from what this prints.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { distParts, manPage } from './lib/command-docs.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const text = await manPage(await distParts(), version);
process.stdout.write(text);
if (process.argv.includes('--write')) {
  mkdirSync(`${root}man`, { recursive: true });
  writeFileSync(`${root}man/datablast-aws.1`, text);
}
