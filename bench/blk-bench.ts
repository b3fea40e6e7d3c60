// `xlts bench blk`: the block split driver against its limit, side by side in one run.
//   PV:   the `blkbench` process guest (our TypeScript blkfront: grants, event channels, the blkif
//         ring) on a raw image served by blkback in a private xltsd; its own timings.
//   host: the same workloads from this process straight on the same image file with Node's fs
//         (buffered, like blkback's own file access; a promise per request, so qd16 is 16
//         requests in libuv's thread pool): what blkback could do at best on this file.
//   ref:  GNU dd with O_DIRECT (bs=1M over the same 64 MiB), below the page cache: what the
//         file system and disk under the image give; for reference only, no target against it.
// Workloads (blkbench's): sequential 1 MiB writes then reads over 64 MiB, 4 in flight; random
// 4 KiB writes then reads, 2000 each at queue depth 16, over the first eighth of the disk.
// Rounds alternate PV and host; medians are printed with the ratio PV/host and the issue's targets
// (sequential >= 90 %, 4 KiB IOPS >= 50 %). The PV rows also give blkback's requests per
// notification from the guest and responses per notification to it (xlts block-list's counters).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../cli/daemon-client.ts';
import { loadXlCfgFile } from '../cli/xl-cfg/index.ts';
import type { BlockDeviceStats } from '../dom0/control/commands.ts';
import { runPaths } from '../dom0/daemon/run-dir.ts';
import { startXltsd } from '../dom0/daemon/xltsd.ts';
import { QEMU_BINARY } from '../lab/run-in-lab.ts';
import { findOnPath } from '../lab/tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const IMAGE_BYTES = 256 * MiB;
const SEQ_MIB = 64;
const SEQ_INFLIGHT = 4;
const RAND_OPS = 2000;
const RAND_DEPTH = 16;

export interface BlkBenchOptions {
  readonly out: NodeJS.WritableStream;
  readonly rounds?: number;
  /** 'host': this machine only; 'lab': the KVM lab only; 'both' (default): the lab too when QEMU is installed. */
  readonly where?: 'host' | 'lab' | 'both';
  /** This process is in the lab already: run the lab's rounds here (internal). */
  readonly inside?: boolean;
}

interface Figures {
  readonly seqWrite: number;
  readonly seqRead: number;
  readonly randWrite: number;
  readonly randRead: number;
  readonly randWriteP50Us: number;
  readonly randWriteP90Us: number;
  readonly randWriteP99Us: number;
  readonly randReadP50Us: number;
  readonly randReadP90Us: number;
  readonly randReadP99Us: number;
}

/** GNU dd with O_DIRECT on the image: the device-ish limit below the page cache, for reference. */
interface DirectFigures {
  readonly seqWrite: number;
  readonly seqRead: number;
}

interface PvRound {
  readonly figures: Figures;
  readonly stats: BlockDeviceStats;
}

/** xorshift32, so both sides touch the same kind of offsets without Math.random. */
function rng(seed: number): () => number {
  let x = seed || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/** As blkbench computes them, so both columns mean the same. */
function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The workloads of blkbench, done with fs on the image file. */
async function hostRound(image: string): Promise<Figures> {
  const fh = await fs.promises.open(image, 'r+');
  try {
    const chunk = Buffer.alloc(MiB, 0xa5);
    const seq = async (write: boolean): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < SEQ_MIB; i += SEQ_INFLIGHT) {
        await Promise.all(
          Array.from({ length: Math.min(SEQ_INFLIGHT, SEQ_MIB - i) }, (_, k) => (write ? fh.write(chunk, 0, MiB, (i + k) * MiB) : fh.read(Buffer.allocUnsafe(MiB), 0, MiB, (i + k) * MiB))),
        );
      }
      return (SEQ_MIB * 1000) / (performance.now() - t0);
    };
    const seqWrite = await seq(true);
    const seqRead = await seq(false);
    const span = IMAGE_BYTES / 8 / 4096;
    const random = async (write: boolean): Promise<{ iops: number; lat: Percentiles }> => {
      const next = rng(0x5eed);
      const page = Buffer.alloc(4096, 0x5a);
      const lat: number[] = [];
      let issued = 0;
      const worker = async (): Promise<void> => {
        while (issued < RAND_OPS) {
          issued++;
          const at = (next() % span) * 4096;
          const t0 = performance.now();
          if (write) await fh.write(page, 0, 4096, at);
          else await fh.read(Buffer.allocUnsafe(4096), 0, 4096, at);
          lat.push((performance.now() - t0) * 1000);
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: RAND_DEPTH }, worker));
      return { iops: (RAND_OPS * 1000) / (performance.now() - t0), lat: percentiles(lat) };
    };
    const rw = await random(true);
    const rr = await random(false);
    return {
      seqWrite,
      seqRead,
      randWrite: rw.iops,
      randRead: rr.iops,
      randWriteP50Us: rw.lat.p50,
      randWriteP90Us: rw.lat.p90,
      randWriteP99Us: rw.lat.p99,
      randReadP50Us: rr.lat.p50,
      randReadP90Us: rr.lat.p90,
      randReadP99Us: rr.lat.p99,
    };
  } finally {
    await fh.close();
  }
}

interface BlkbenchData {
  readonly ok: boolean;
  readonly errors: number;
  readonly fatal: string | null;
  readonly disks: Array<{
    bench?: { seqWriteMBps: number; seqReadMBps: number; randWriteIops: number; randReadIops: number; randWriteLatencyUs: Percentiles; randReadLatencyUs: Percentiles };
  }>;
}

/** One blkbench guest through xltsd; its figures and blkback's counters (read before destroy). */
async function pvRound(c: ControlClient, image: string): Promise<PvRound> {
  const { config } = await loadXlCfgFile(path.join(ROOT, 'examples/blkbench.cfg'), {
    overrides: [`disk=["${image},raw,xvda,rw"]`, 'cmdline="bench"', 'on_poweroff="preserve"', 'name="blkbench-bench"'],
  });
  const { domid } = await c.request({ op: 'create', config, paused: false });
  try {
    const until = Date.now() + 300_000;
    for (;;) {
      const d = (await c.request({ op: 'list' })).domains.find((x) => x.domid === domid);
      if (d === undefined || d.phase === 'shutdown' || d.phase === 'crashed') break;
      if (Date.now() > until) throw new Error('blkbench did not finish within 300 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const data = JSON.parse((await c.request({ op: 'xenstore-read', path: `/local/domain/${domid}/data/blkbench` })).value) as BlkbenchData;
    const b = data.disks[0]?.bench;
    if (!data.ok || b === undefined) throw new Error(`blkbench failed: ${data.fatal ?? `${data.errors} errors`}`);
    const { devices } = await c.request({ op: 'block-list', domain: domid });
    return {
      figures: {
        seqWrite: b.seqWriteMBps,
        seqRead: b.seqReadMBps,
        randWrite: b.randWriteIops,
        randRead: b.randReadIops,
        randWriteP50Us: b.randWriteLatencyUs.p50,
        randWriteP90Us: b.randWriteLatencyUs.p90,
        randWriteP99Us: b.randWriteLatencyUs.p99,
        randReadP50Us: b.randReadLatencyUs.p50,
        randReadP90Us: b.randReadLatencyUs.p90,
        randReadP99Us: b.randReadLatencyUs.p99,
      },
      stats: devices[0]!.stats,
    };
  } finally {
    await c.request({ op: 'destroy', domain: domid }).catch(() => undefined);
  }
}

/** One GNU dd run with O_DIRECT over the sequential span, in MiB/s from dd's own timing. */
function ddDirect(image: string, write: boolean): number {
  const args = write
    ? ['if=/dev/zero', `of=${image}`, 'bs=1M', `count=${SEQ_MIB}`, 'oflag=direct', 'conv=notrunc']
    : [`if=${image}`, 'of=/dev/null', 'bs=1M', `count=${SEQ_MIB}`, 'iflag=direct'];
  const t0 = performance.now();
  const r = spawnSync('dd', args, { encoding: 'utf8' });
  const wallS = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`dd ${args.join(' ')} failed: ${r.stderr}`);
  // GNU dd: "67108864 bytes (67 MB, 64 MiB) copied, 0.0583 s, 1.2 GB/s"; busybox's prints no time.
  const s = /copied, ([0-9.e+-]+) s/.exec(r.stderr)?.[1];
  return SEQ_MIB / (s === undefined ? wallS : Number(s));
}

/** The host section: rounds of PV then host then dd O_DIRECT, the table and blkback's counters. */
async function hostSection(o: BlkBenchOptions, rounds: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-blk-bench-'));
  const image = path.join(dir, 'disk.img');
  fs.writeFileSync(image, '');
  fs.truncateSync(image, IMAGE_BYTES);
  const daemon = await startXltsd({ runDir: dir, log: () => undefined });
  const c = await ControlClient.connect(runPaths(dir).controlSocket);
  const pv: PvRound[] = [];
  const host: Figures[] = [];
  const direct: DirectFigures[] = [];
  try {
    o.out.write(`xlts bench blk, on this host: ${rounds} rounds, PV / host fs / dd O_DIRECT alternating, on a ${IMAGE_BYTES / MiB} MiB raw image in ${dir}\n`);
    for (let i = 0; i < rounds; i++) {
      pv.push(await pvRound(c, image));
      host.push(await hostRound(image));
      direct.push({ seqWrite: ddDirect(image, true), seqRead: ddDirect(image, false) });
      o.out.write(`  round ${i + 1}: done\n`);
    }
  } finally {
    c.close();
    await daemon.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows: Array<[string, keyof Figures, string, number | null, keyof DirectFigures | null]> = [
    ['sequential 1 MiB write', 'seqWrite', 'MiB/s', 0.9, 'seqWrite'],
    ['sequential 1 MiB read', 'seqRead', 'MiB/s', 0.9, 'seqRead'],
    [`random 4 KiB write qd${RAND_DEPTH}`, 'randWrite', 'IOPS', 0.5, null],
    [`random 4 KiB read qd${RAND_DEPTH}`, 'randRead', 'IOPS', 0.5, null],
    ['  write latency p50', 'randWriteP50Us', 'us', null, null],
    ['  write latency p90', 'randWriteP90Us', 'us', null, null],
    ['  write latency p99', 'randWriteP99Us', 'us', null, null],
    ['  read latency p50', 'randReadP50Us', 'us', null, null],
    ['  read latency p90', 'randReadP90Us', 'us', null, null],
    ['  read latency p99', 'randReadP99Us', 'us', null, null],
  ];
  o.out.write(
    `\n| workload (median of ${rounds}) | unit | PV (blkfront -> blkback) | host (Node fs on the image) | PV/host | target | ref: dd O_DIRECT |\n` +
      `|---|---|---|---|---|---|---|\n`,
  );
  for (const [label, key, unit, target, ddKey] of rows) {
    const a = median(pv.map((r) => r.figures[key]));
    const b = median(host.map((r) => r[key]));
    const ratio = a / b;
    const verdict = target === null ? '' : `>= ${target * 100}%: ${ratio >= target ? 'met' : 'NOT met'}`;
    const ref = ddKey === null ? '' : median(direct.map((d) => d[ddKey])).toFixed(0);
    o.out.write(`| ${label} | ${unit} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(ratio * 100).toFixed(0)}% | ${verdict} | ${ref} |\n`);
  }
  const s = pv.at(-1)!.stats;
  o.out.write(
    `\nblkback counters of the last PV round: ${s.requests} requests, ${s.notifications_in} notifications from the guest ` +
      `(${(s.requests / Math.max(1, s.notifications_in)).toFixed(1)} requests each), ${s.notifications_out} to it, ` +
      `${s.batches} batches (largest ${s.max_batch}), ${s.errors} errors.\n` +
      `Exits per request do not apply here (a process guest has no vCPU exits); its notifications cross a process boundary (IPC) each.\n`,
  );
}

export async function runBlkBench(o: BlkBenchOptions): Promise<void> {
  const rounds = o.rounds ?? 3;
  if (o.inside === true) {
    const { blkLabInside } = await import('./blk-lab-bench.ts');
    await blkLabInside(o.out, rounds);
    return;
  }
  const where = o.where ?? 'both';
  if (where !== 'lab') await hostSection(o, rounds);
  if (where === 'host') return;
  if (findOnPath(QEMU_BINARY) === undefined) {
    if (where === 'lab') throw new Error(`${QEMU_BINARY} is not installed: the KVM lab needs it (npm run setup)`);
    o.out.write(`\nKVM lab section skipped: ${QEMU_BINARY} is not installed.\n`);
    return;
  }
  const { runBlkLabSection } = await import('./blk-lab-bench.ts');
  await runBlkLabSection(o.out, rounds);
}
