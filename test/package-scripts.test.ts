// The README's commands are package.json scripts: each must really reach the CLI. (`tsx
// cli/main.ts demo` once ran nothing at all: main.ts only exports main().) Each script's command
// after the set-up step is run with --help appended, which must print that command's help.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(fs.readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> };

describe('package.json scripts', () => {
  for (const [name, expected] of [
    ['demo', /the main job/],
    ['bench', /which benchmark/],
  ] as const) {
    it(`npm run ${name} reaches the xlts CLI`, () => {
      const command = pkg.scripts[name]!.replace(/^bash scripts\/setup\.sh && /, '');
      const out = execFileSync('sh', ['-c', `${command} --help`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${ROOT}/node_modules/.bin:${process.env.PATH}` } });
      expect(out).toMatch(expected);
    });
  }
});
