// The per-run job scripts: mount planning, and quoting checked by running job.sh through the
// host's own /bin/sh, as the lab does (only the chroot is missing).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabRequestError } from './errors.ts';
import { buildLabJob, labEnvironment, type LabJobRequest } from './job.ts';
import { shQuote } from './shell.ts';

const BASE: LabJobRequest = { argv: ['true'], cwd: '/work/main', env: {}, rw: [], uid: 0, gid: 0, groups: [] };

function runJob(script: string, cwd: string): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'xlts-job-spec-'));
  try {
    writeFileSync(join(dir, 'job.sh'), script);
    const r = spawnSync('/usr/bin/env', ['-i', '/bin/sh', join(dir, 'job.sh')], { cwd, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('shQuote', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    expect(shQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shQuote('')).toBe("''");
    expect(shQuote("it's $HOME")).toBe("'it'\\''s $HOME'");
    expect(() => shQuote('a\0b')).toThrow(TypeError);
  });
});

describe('buildLabJob: job.sh', () => {
  it('passes argv, environment and cwd through the shell unchanged, and sets XLTS_IN_LAB', () => {
    const nasty = ["it's", '$HOME', '`id`', 'a b', '', '\n', '"quoted"', '*', '\\'];
    const cwd = mkdtempSync(join(tmpdir(), 'xlts job cwd '));
    try {
      const job = buildLabJob({
        ...BASE,
        cwd,
        argv: ['/bin/sh', '-c', 'printf "%s|" "$@"; printf "%s|%s|%s|%s" "$X" "$XLTS_IN_LAB" "$(pwd)" "$PATH"', 'sh', ...nasty],
        env: { X: "x'y $z", PATH: '/usr/bin:/bin' },
      });
      const r = runJob(job.jobScript, '/');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${nasty.join('|')}|x'y $z|1|${cwd}|/usr/bin:/bin`);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('reports a working directory that does not exist inside with status 125', () => {
    const job = buildLabJob({ ...BASE, cwd: '/nonexistent/dir' });
    const r = runJob(job.jobScript, '/');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/cannot enter/);
  });

  it('drops to the caller identity through setpriv when not root', () => {
    const job = buildLabJob({ ...BASE, uid: 1000, gid: 1001, groups: [27, 106] });
    expect(job.jobScript).toContain('exec /usr/bin/setpriv --reuid=1000 --regid=1001 --groups=27,106 -- true');
    expect(buildLabJob({ ...BASE, uid: 5, gid: 5 }).jobScript).toContain('--clear-groups');
  });

  it('refuses an empty command, relative paths, and bad environment names', () => {
    expect(() => buildLabJob({ ...BASE, argv: [] })).toThrow(LabRequestError);
    expect(() => buildLabJob({ ...BASE, cwd: 'work' })).toThrow(/absolute/);
    expect(() => buildLabJob({ ...BASE, env: { 'A-B': '1' } })).toThrow(/not valid/);
  });
});

describe('buildLabJob: setup.sh', () => {
  it('mounts --rw shares shallow first, each with its own tag', () => {
    const job = buildLabJob({ ...BASE, rw: ['/work/main/out/deep', '/work/main/out/', '/srv/b'] });
    expect(job.rwShares).toEqual([
      { tag: 'xltsrw0', path: '/srv/b' },
      { tag: 'xltsrw1', path: '/work/main/out' },
      { tag: 'xltsrw2', path: '/work/main/out/deep' },
    ]);
    expect(job.setupScript.split('\n').filter((l) => l.startsWith('lab_'))).toEqual([
      'lab_rw xltsrw0 /srv/b',
      'lab_rw xltsrw1 /work/main/out',
      'lab_rw xltsrw2 /work/main/out/deep',
    ]);
  });

  it('shows a working directory under a private tmpfs read-only, unless a share covers it', () => {
    const hidden = buildLabJob({ ...BASE, cwd: '/tmp/t 1', rw: ['/tmp/t 1/out'] });
    expect(hidden.setupScript.split('\n').filter((l) => l.startsWith('lab_'))).toEqual([
      "lab_bind_ro '/tmp/t 1'",
      "lab_rw xltsrw0 '/tmp/t 1/out'",
    ]);
    const covered = buildLabJob({ ...BASE, cwd: '/tmp/t/sub', rw: ['/tmp/t'] });
    expect(covered.setupScript).not.toContain('lab_bind_ro');
  });

  it('refuses --rw over the root or the kernel trees the lab mounts itself', () => {
    for (const dir of ['/', '/proc', '/sys/kernel', '/dev']) {
      expect(() => buildLabJob({ ...BASE, rw: [dir] })).toThrow(LabRequestError);
    }
    expect(() => buildLabJob({ ...BASE, rw: ['/dev/shm/x'] })).not.toThrow();
    expect(() => buildLabJob({ ...BASE, rw: ['/a/../etc'] })).toThrow(/normalised/);
  });
});

describe('labEnvironment', () => {
  it('carries PATH, HOME, TERM, XLTS_* and locale, and nothing else', () => {
    const env = labEnvironment({ PATH: '/bin', HOME: '/h', TERM: 'xterm', XLTS_X: '1', LC_ALL: 'C', SSH_AUTH_SOCK: '/s', AWS_SECRET: 'k' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', TERM: 'xterm', XLTS_X: '1', LC_ALL: 'C' });
  });
});
