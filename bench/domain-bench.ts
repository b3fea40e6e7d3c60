// Domain lifecycle timings through xltsd, side by side in one run: create-to-ready (the guest's
// xenbus connected, or for a Linux guest its shell prompt on the console) and shutdown-to-gone
// (`xlts shutdown -w` through control/shutdown until the domain has left the registry).
//   npx xlts bench domain                 process guest (examples/idle.cfg) on this host
//   npx xlts bench domain --lab           Linux guest (examples/linux.cfg) inside the KVM lab
// A private xltsd is started in a temporary run directory, so a running one is not disturbed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../cli/daemon-client.ts';
import { loadXlCfgFile } from '../cli/xl-cfg/index.ts';
import { runPaths } from '../dom0/daemon/run-dir.ts';
import { startXltsd } from '../dom0/daemon/xltsd.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface DomainBenchOptions {
  readonly out: NodeJS.WritableStream;
  readonly cfg?: string;
  readonly runs?: number;
  /** 'xenbus': the guest wrote control/feature-poweroff; 'prompt': its shell prompt appeared. */
  readonly ready?: 'xenbus' | 'prompt';
}

interface Sample {
  readonly createMs: number;
  readonly readyMs: number;
  readonly goneMs: number;
}

function stats(xs: readonly number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `${med.toFixed(0).padStart(7)} ${s[0]!.toFixed(0).padStart(7)} ${s[s.length - 1]!.toFixed(0).padStart(7)}`;
}

async function defaultGuestPlaceholder(ref: { name: string; file: string }): Promise<string> {
  const { ensureLinuxGuest } = await import('../guests/linux/build.ts');
  const g = await ensureLinuxGuest();
  return path.join(path.dirname(g.kernel), ref.file);
}

export async function runDomainBench(o: DomainBenchOptions): Promise<Sample[]> {
  const cfg = o.cfg ?? path.join(ROOT, 'examples/idle.cfg');
  const runs = o.runs ?? 10;
  const ready = o.ready ?? 'xenbus';
  const { config } = await loadXlCfgFile(cfg, { resolvePlaceholder: defaultGuestPlaceholder });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-domain-bench-'));
  const daemon = await startXltsd({ runDir: dir, log: process.env.XLTS_BENCH_VERBOSE ? (l) => process.stderr.write(`xltsd: ${l}\n`) : () => undefined });
  const c = await ControlClient.connect(runPaths(dir).controlSocket);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      let readyAt = 0;
      let goneAt = 0;
      let domid = -1;
      let console = '';
      const readyNow = (): void => {
        if (readyAt === 0) readyAt = performance.now();
      };
      c.onEvent = (e) => {
        if (e.kind === 'xenstore-watch' && domid > 0 && e.path === `/local/domain/${domid}/control/feature-poweroff` && ready === 'xenbus') {
          void c.request({ op: 'xenstore-read', path: e.path }).then((r) => r.value === '1' && readyNow(), () => undefined);
        }
        if (e.kind === 'removed' && e.domid === domid) goneAt = performance.now();
      };
      // The console relay has a connection of its own: xltsd ends it when the domain goes.
      const con = ready === 'prompt' ? await ControlClient.connect(runPaths(dir).controlSocket) : null;
      if (con) {
        con.onConsole = (_id, data) => {
          console = (console + Buffer.from(data).toString('latin1')).slice(-256);
          if (console.includes('xlts:')) readyNow();
        };
      }
      await c.request({ op: 'subscribe-events' });
      const t0 = performance.now();
      const created = await c.request({ op: 'create', config, paused: false });
      const tCreated = performance.now();
      domid = created.domid;
      if (ready === 'xenbus') await c.request({ op: 'xenstore-watch', path: `/local/domain/${domid}/control/feature-poweroff`, token: `b${i}` });
      else await con!.request({ op: 'console-attach', domain: domid });
      const until = Date.now() + 300_000;
      while (readyAt === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (readyAt === 0) throw new Error(`run ${i}: the guest never became ready (${ready}); console tail: ${JSON.stringify(console)}`);
      const tDown = performance.now();
      await c.request({ op: 'shutdown', domain: domid, wait: true });
      while (goneAt === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      if (goneAt === 0) throw new Error(`run ${i}: the domain did not go after shutdown -w`);
      con?.close();
      samples.push({ createMs: tCreated - t0, readyMs: readyAt - t0, goneMs: goneAt - tDown });
      process.stderr.write(`domain bench: run ${i + 1}/${runs}: create ${(tCreated - t0).toFixed(0)} ms, ready ${(readyAt - t0).toFixed(0)} ms, gone ${(goneAt - tDown).toFixed(0)} ms\n`);
    }
  } finally {
    c.close();
    await daemon.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  o.out.write(`domain lifecycle through xltsd: ${config.name} (${config.type}${config.type === 'process' ? `, program ${config.program}` : ''}), ${runs} runs, ms\n`);
  o.out.write(`  host ${os.hostname()}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}${process.env.XLTS_IN_LAB ? ', inside the KVM lab' : ''}\n`);
  o.out.write(`                                     median     min     max\n`);
  o.out.write(`  create (answer from xltsd)         ${stats(samples.map((s) => s.createMs))}\n`);
  o.out.write(`  create to ${ready === 'xenbus' ? 'xenbus connected  ' : 'shell prompt      '}       ${stats(samples.map((s) => s.readyMs))}\n`);
  o.out.write(`  shutdown -w to gone                ${stats(samples.map((s) => s.goneMs))}\n`);
  return samples;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  const lab = process.argv.includes('--lab');
  await runDomainBench({
    out: process.stdout,
    ...(lab ? { cfg: path.join(ROOT, 'examples/linux.cfg'), ready: 'prompt' as const, runs: 3 } : {}),
  });
}
