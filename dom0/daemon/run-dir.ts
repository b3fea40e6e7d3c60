// Where a running xltsd keeps its sockets and state. One directory per host instance, so several
// can run side by side (tests do): ${XLTS_RUN_DIR} if set, else /run/xlts for root and
// ${XDG_RUNTIME_DIR:-/tmp}/xlts-<uid> for others.
//
//   xltsd.sock       the control API (dom0/control: length-prefixed msgpackr frames)
//   xenstored.sock   XenStore for dom0 tools: XENSTORED_PATH=<this> xenstore-ls /
//   xltsd.pid        the daemon's pid while it runs
//   xltsd.log        the daemon's log when it runs in the background
//
// Guest RAM files live in /dev/shm (xlts-<instance>-dom<N>.ram, removed on destroy), not here:
// they must be tmpfs for mmap, and /run may not be.
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export interface RunPaths {
  readonly dir: string;
  readonly controlSocket: string;
  readonly xenstoreSocket: string;
  readonly pidFile: string;
  readonly logFile: string;
  /** Prefix for this instance's guest RAM files in /dev/shm. */
  readonly shmPrefix: string;
}

export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XLTS_RUN_DIR !== undefined && env.XLTS_RUN_DIR !== '') return path.resolve(env.XLTS_RUN_DIR);
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/xlts';
  return path.join(env.XDG_RUNTIME_DIR ?? os.tmpdir(), `xlts-${uid}`);
}

export function runPaths(dir: string = defaultRunDir()): RunPaths {
  // A short stable tag for this run directory keeps two instances' /dev/shm files apart.
  const tag = createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 8);
  return {
    dir,
    controlSocket: path.join(dir, 'xltsd.sock'),
    xenstoreSocket: path.join(dir, 'xenstored.sock'),
    pidFile: path.join(dir, 'xltsd.pid'),
    logFile: path.join(dir, 'xltsd.log'),
    shmPrefix: `/dev/shm/xlts-${tag}-`,
  };
}
