// xltsd, the Dom0 daemon: XenStore (engine, dom0 socket, one ring per guest), the domain
// registry with one shim process per DomU, and the control socket the xlts CLI talks to. One per
// run directory (run-dir.ts); a second one on the same directory refuses to start.
import * as fs from 'node:fs';
import { detectKvmHost } from '../../lab/kvm-host.ts';
import type { HostInfo } from '../control/commands.ts';
import { XenstoreEngine, startXenstoreSocket, type XenstoreSocketServer } from '../xenstore/index.ts';
import { startControlServer, type ControlServer } from './control-server.ts';
import { localXenstore } from './local-xenstore.ts';
import { DomainRegistry } from './registry.ts';
import { runPaths, type RunPaths } from './run-dir.ts';

export interface XltsdOptions {
  readonly runDir?: string;
  readonly log?: (line: string) => void;
}

export interface Xltsd {
  readonly paths: RunPaths;
  readonly registry: DomainRegistry;
  /** Destroys every domain, closes the sockets, removes the pid file. */
  close(): Promise<void>;
}

/** Another xltsd is serving this run directory. */
export class XltsdRunningError extends Error {
  override readonly name = 'XltsdRunningError';
}

export function runningDaemonPid(paths: RunPaths): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(paths.pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

function hostKvm(): HostInfo['kvm'] {
  try {
    const h = detectKvmHost();
    if (h.canRunLinux) return 'host';
    return h.devKvm ? 'lab' : 'none';
  } catch {
    return 'none';
  }
}

export async function startXltsd(options: XltsdOptions = {}): Promise<Xltsd> {
  const paths = runPaths(options.runDir);
  const log = options.log ?? ((line: string) => process.stderr.write(`xltsd: ${line}\n`));
  fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const other = runningDaemonPid(paths);
  if (other !== null && other !== process.pid) throw new XltsdRunningError(`xltsd (pid ${other}) already serves ${paths.dir}`);
  fs.writeFileSync(paths.pidFile, `${process.pid}\n`);

  const engine = new XenstoreEngine({ log: (line) => log(`xenstore: ${line}`) });
  const { client: xs, session } = localXenstore(engine, log);
  let xenstoreSocket: XenstoreSocketServer | null = null;
  let control: ControlServer | null = null;
  const registry = new DomainRegistry({ engine, xs, session, paths, log });
  try {
    // The tree every Xen host has before any guest: /local/domain/0 for Dom0 itself, /vm, /tool.
    await xs.write('/local/domain/0/name', 'Domain-0');
    await xs.write('/local/domain/0/domid', '0');
    await xs.mkdir('/vm');
    await xs.mkdir('/tool');
    xenstoreSocket = await startXenstoreSocket({ engine, path: paths.xenstoreSocket, log: (line: string) => log(`xenstored.sock: ${line}`) });
    control = await startControlServer({ path: paths.controlSocket, registry, xs, xenstoreSocket: paths.xenstoreSocket, kvm: hostKvm(), log });
  } catch (err) {
    await xenstoreSocket?.close();
    fs.rmSync(paths.pidFile, { force: true });
    throw err;
  }
  log(`serving ${paths.dir} (control ${paths.controlSocket}, xenstore ${paths.xenstoreSocket})`);
  let closing: Promise<void> | null = null;
  return {
    paths,
    registry,
    close: () =>
      (closing ??= (async () => {
        await registry.destroyAll();
        await control?.close();
        await xenstoreSocket?.close();
        xs.close();
        fs.rmSync(paths.pidFile, { force: true });
      })()),
  };
}
