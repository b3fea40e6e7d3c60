// The per-run job: what the host tells the lab's init to do, as two small shell scripts on a
// read-only 9p share (the kernel command line is too short, and drops parameters with a dot).
// Pure functions of a validated request, so the quoting and mount planning are unit-tested
// without booting anything.

import { LabRequestError } from './errors.ts';
import { LAB_ENV_FLAG, LAB_TAG } from './protocol.ts';
import { isShellName, shQuote } from './shell.ts';

/** npm's cache inside the lab (on the private /tmp); see the job script. */
const LAB_NPM_CACHE = '/tmp/.npm';

/** Mount points the lab replaces with a private tmpfs: the host's contents are hidden there. */
export const PRIVATE_TMPFS_DIRS = ['/tmp', '/run', '/dev/shm'] as const;

/** Trees a --rw share may not replace: the lab mounts its own kernel filesystems there. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'] as const;

/**
 * Host environment variables carried into the lab when the caller does not pass `env`: the
 * ones the brief names (PATH, HOME, TERM, XLTS_*), identity and locale, and the few switches
 * test tools read. Anything else (tokens, sockets of host daemons) would be meaningless or
 * harmful inside the VM.
 */
export function labEnvironment(hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const carried: Record<string, string> = {};
  const keep = (name: string): boolean =>
    ['PATH', 'HOME', 'TERM', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ'].includes(name) ||
    ['CI', 'NO_COLOR', 'FORCE_COLOR', 'NODE_OPTIONS'].includes(name) ||
    name.startsWith('LC_') ||
    name.startsWith('XLTS_');
  for (const [name, value] of Object.entries(hostEnv)) {
    if (value !== undefined && keep(name)) carried[name] = value;
  }
  return carried;
}

export interface LabJobRequest {
  /** The command and its arguments; argv[0] is looked up on PATH inside the lab. */
  readonly argv: readonly string[];
  /** Absolute working directory, visible inside the lab at the same path. */
  readonly cwd: string;
  /** Environment of the command (the lab adds XLTS_IN_LAB=1). */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute, real (symlink-free) host directories shared writable at the same path. */
  readonly rw: readonly string[];
  /** Identity to run the command as; uid 0 runs it as root without setpriv. */
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

export interface LabJob {
  /** setup.sh, sourced by the init as root: the --rw mounts and read-only binds, in order. */
  readonly setupScript: string;
  /** job.sh, run by the host's /bin/sh in the chroot under `env -i`. */
  readonly jobScript: string;
  /** The --rw shares in the order of their tags (share n has tag xltsrw<n>). */
  readonly rwShares: ReadonlyArray<{ readonly tag: string; readonly path: string }>;
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

function checkAbsolute(what: string, path: string): void {
  if (!path.startsWith('/') || path.split('/').some((part) => part === '.' || part === '..')) {
    throw new LabRequestError(`${what} must be an absolute, normalised path: ${path}`);
  }
}

export function buildLabJob(req: LabJobRequest): LabJob {
  if (req.argv.length === 0 || req.argv[0] === '') {
    throw new LabRequestError('no command given: xlts lab -- <command...>');
  }
  checkAbsolute('the working directory', req.cwd);
  const rw = [...new Set(req.rw.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p)))];
  for (const dir of rw) {
    checkAbsolute('a --rw directory', dir);
    if (dir === '/') throw new LabRequestError('--rw / would replace the whole root; name a directory');
    const tree = KERNEL_TREES.find((t) => isUnder(dir, t) && !isUnder(dir, '/dev/shm'));
    if (tree !== undefined) {
      throw new LabRequestError(`--rw ${dir}: the lab mounts its own ${tree} there`);
    }
  }
  // Shallower mount points first, so a share inside another share (or inside a read-only bind)
  // lands on top of it rather than under it.
  const depth = (p: string): number => p.split('/').length;
  const rwShares = [...rw]
    .sort((a, b) => depth(a) - depth(b) || a.localeCompare(b))
    .map((path, n) => ({ tag: `${LAB_TAG.rwPrefix}${n}`, path }));

  const setup: string[] = ['# --rw shares and read-only binds for this run (lab/job.ts)'];
  // A working directory hidden by a private tmpfs (e.g. a test's mkdtemp under /tmp) is shown
  // read-only from the host's root, unless a --rw share already covers it.
  const hidden = PRIVATE_TMPFS_DIRS.find((dir) => isUnder(req.cwd, dir) && req.cwd !== dir);
  const coveredByRw = rw.some((dir) => isUnder(req.cwd, dir));
  const binds: Array<{ path: string; line: string }> = [];
  if (hidden !== undefined && !coveredByRw) {
    binds.push({ path: req.cwd, line: `lab_bind_ro ${shQuote(req.cwd)}` });
  }
  for (const share of rwShares) {
    binds.push({ path: share.path, line: `lab_rw ${share.tag} ${shQuote(share.path)}` });
  }
  binds.sort((a, b) => depth(a.path) - depth(b.path));
  setup.push(...binds.map((b) => b.line), '');

  const job: string[] = ['# the command of this run (lab/job.ts); run by /bin/sh under env -i'];
  // The host's ~/.npm is read-only in here, and npx takes a lock under its cache even to run the
  // project's own bin (EROFS), and re-installing that bin chmods it on the read-only root (EROFS
  // again): give npm a cache on the private /tmp seeded with the host's npx installs (a few KiB
  // of symlinks), unless the caller chose a cache.
  const seedNpmCache = req.env.npm_config_cache === undefined;
  const env: Record<string, string> = { ...(seedNpmCache ? { npm_config_cache: LAB_NPM_CACHE } : {}), ...req.env, [LAB_ENV_FLAG]: '1' };
  for (const [name, value] of Object.entries(env)) {
    if (!isShellName(name)) throw new LabRequestError(`environment variable name ${JSON.stringify(name)} is not valid`);
    job.push(`export ${name}=${shQuote(value)}`);
  }
  if (seedNpmCache) {
    const owner = req.uid === 0 ? '' : ` && chown -R ${Number(req.uid)}:${Number(req.gid)} ${LAB_NPM_CACHE}`;
    job.push(`[ -d "$HOME/.npm/_npx" ] && mkdir -p ${LAB_NPM_CACHE} && cp -a "$HOME/.npm/_npx" ${LAB_NPM_CACHE}/ 2>/dev/null${owner}`);
  }
  const cwd = shQuote(req.cwd);
  job.push(
    `cd ${cwd} || { echo "xlts lab: cannot enter "${cwd}" inside the lab" >&2; exit 125; }`,
  );
  const argv = req.argv.map(shQuote).join(' ');
  if (req.uid === 0) {
    job.push(`exec ${argv}`);
  } else {
    for (const id of [req.uid, req.gid, ...req.groups]) {
      if (!Number.isInteger(id) || id < 0) throw new LabRequestError(`invalid user or group id ${id}`);
    }
    // Same identity as on the host, so files written to --rw shares get the caller's owner and
    // permission checks on the read-only root match the host's.
    const groups = req.groups.length > 0 ? `--groups=${req.groups.join(',')}` : '--clear-groups';
    job.push(`exec /usr/bin/setpriv --reuid=${req.uid} --regid=${req.gid} ${groups} -- ${argv}`);
  }
  job.push('');
  return { setupScript: setup.join('\n'), jobScript: job.join('\n'), rwShares };
}
