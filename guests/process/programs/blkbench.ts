// The `blkbench` process guest: connects our blkfront to every disk under device/vbd/, runs a
// verifying workload on each (patterned writes at random sectors, single-page, multi-segment and
// indirect-sized; read back and compare; flush; discard and read zeros back) and, with `bench` on
// its cmdline, a benchmark (sequential 1 MiB MB/s, random 4 KiB IOPS with latency percentiles).
// Results go to the console and, as JSON, to data/blkbench; then the domain powers off.
import { GrantTableWriter } from '../../../frontends/grants/index.ts';
import { BLKIF_SECTOR_SIZE, Blkfront, type EventChannels, type PageAllocator } from '../../../frontends/blkfront/index.ts';
import type { XenstoreClient } from '../../../frontends/xenbus/index.ts';
import type { ProgramEnv } from './program.ts';

export type BlkbenchEnv = ProgramEnv;

export interface DiskReport {
  readonly vbd: string;
  readonly sectors: number;
  readonly checks: number;
  readonly errors: string[];
  readonly features: Record<string, number | boolean>;
  bench?: BenchReport;
}

interface BenchReport {
  readonly seqWriteMBps: number;
  readonly seqReadMBps: number;
  readonly randWriteIops: number;
  readonly randReadIops: number;
  readonly randWriteLatencyUs: Percentiles;
  readonly randReadLatencyUs: Percentiles;
}

interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

const MIB = 1024 * 1024;

/** xorshift32: reproducible data and offsets without Math.random. */
export class Rng {
  constructor(private x: number) {
    if (this.x === 0) this.x = 0x9e3779b9;
  }
  next(): number {
    this.x ^= this.x << 13;
    this.x ^= this.x >>> 17;
    this.x ^= this.x << 5;
    return this.x >>> 0;
  }
  below(n: number): number {
    return this.next() % n;
  }
  fill(b: Uint8Array): Uint8Array {
    for (let i = 0; i < b.byteLength; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((x, y) => x - y);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: Math.round(s.at(-1) ?? 0) };
}

export function kernelChannels(env: ProgramEnv): EventChannels {
  return {
    allocUnbound: (remote) => env.kernel.allocUnbound(remote),
    bind: (port, handler) => env.kernel.bind(port, handler),
    notify: (port) => env.kernel.send(port),
  };
}

/** The verifying workload: every mismatch or failure is an entry in `errors`. */
export async function verify(dev: Blkfront, rng: Rng, report: DiskReport, log: (s: string) => void): Promise<number> {
  const { sectors, maxSegments } = dev.info;
  const perSector = dev.info.sectorSize / BLKIF_SECTOR_SIZE;
  // Sizes in 512-byte sectors: one sector, one page, 11 pages (direct limit), just above it, the indirect limit.
  const sizes = [perSector, 8, 8 * 11, 8 * 12, 8 * maxSegments].filter((n, i, a) => n % perSector === 0 && n <= sectors && a.indexOf(n) === i);
  const written: Array<{ sector: number; data: Uint8Array }> = [];
  let checks = 0;
  const check = (ok: boolean, what: string): void => {
    checks++;
    if (!ok) {
      report.errors.push(what);
      log(`  FAIL ${what}\n`);
    }
  };
  // Non-overlapping regions so every write can be read back as written.
  const used: Array<[number, number]> = [];
  const place = (count: number): number | null => {
    for (let attempt = 0; attempt < 32; attempt++) {
      const s = rng.below(Math.floor((sectors - count) / perSector) + 1) * perSector;
      if (used.every(([a, b]) => s + count <= a || s >= b)) {
        used.push([s, s + count]);
        return s;
      }
    }
    return null;
  };
  for (const count of [...sizes, ...sizes]) {
    const sector = place(count);
    if (sector === null) continue;
    const data = rng.fill(new Uint8Array(count * BLKIF_SECTOR_SIZE));
    await dev.write(sector, data);
    written.push({ sector, data });
  }
  for (const { sector, data } of written) {
    const back = await dev.read(sector, data.byteLength / BLKIF_SECTOR_SIZE);
    const diff = firstDifference(back, data);
    check(diff < 0, `read-back of ${data.byteLength} bytes at sector ${sector} differs at byte ${diff}`);
  }
  // The same again, all at once, so requests share the ring.
  const concurrent = await Promise.all(written.map(({ sector, data }) => dev.read(sector, data.byteLength / BLKIF_SECTOR_SIZE)));
  concurrent.forEach((back, i) => check(firstDifference(back, written[i]!.data) < 0, `concurrent read-back ${i} differs`));
  if (dev.info.flushCache) {
    await dev.flush().then(
      () => check(true, 'flush'),
      (e: unknown) => check(false, `flush: ${String(e)}`),
    );
  }
  if (dev.info.discard && written.length > 0) {
    const { sector, data } = written[0]!;
    const count = data.byteLength / BLKIF_SECTOR_SIZE;
    await dev.discard(sector, count);
    const back = await dev.read(sector, count);
    // Discarded sectors read back as zeros on our backends (file holes); Xen only promises "unspecified".
    check(back.every((b) => b === 0), `discarded sectors ${sector}+${count} do not read back as zeros`);
  }
  return checks;
}

async function timed<T>(f: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function bench(dev: Blkfront, rng: Rng, log: (s: string) => void): Promise<BenchReport> {
  const bytes = Math.min(64 * MIB, Math.floor(dev.info.sectors / 2048) * MIB);
  const chunk = new Uint8Array(MIB);
  rng.fill(chunk);
  // A disk under 2 MiB gets a 1 MiB run over its first half-or-so rather than a division by zero.
  const mibs = Math.max(1, bytes / MIB);
  if (dev.info.sectors < 2048) throw new Error(`disk of ${dev.info.sectors} sectors is too small to benchmark 1 MiB transfers`);
  const seqWriteMs = await timed(async () => {
    for (let i = 0; i < mibs; i += 4) await Promise.all(Array.from({ length: Math.min(4, mibs - i) }, (_, k) => dev.write((i + k) * 2048, chunk)));
  });
  const seqReadMs = await timed(async () => {
    for (let i = 0; i < mibs; i += 4) await Promise.all(Array.from({ length: Math.min(4, mibs - i) }, (_, k) => dev.read((i + k) * 2048, 2048)));
  });
  const ops = 2000;
  const depth = 16;
  const span = Math.floor(dev.info.sectors / 8);
  const page = rng.fill(new Uint8Array(4096));
  const random = async (op: (sector: number) => Promise<unknown>): Promise<{ iops: number; lat: number[] }> => {
    const lat: number[] = [];
    let issued = 0;
    const worker = async (): Promise<void> => {
      while (issued < ops) {
        issued++;
        const t0 = performance.now();
        await op(rng.below(span) * 8);
        lat.push((performance.now() - t0) * 1000);
      }
    };
    const ms = await timed(() => Promise.all(Array.from({ length: depth }, worker)));
    return { iops: Math.round((ops * 1000) / ms), lat };
  };
  const rw = await random((s) => dev.write(s, page));
  const rr = await random((s) => dev.read(s, 8));
  const r: BenchReport = {
    seqWriteMBps: Math.round((mibs * 1000) / seqWriteMs),
    seqReadMBps: Math.round((mibs * 1000) / seqReadMs),
    randWriteIops: rw.iops,
    randReadIops: rr.iops,
    randWriteLatencyUs: percentiles(rw.lat),
    randReadLatencyUs: percentiles(rr.lat),
  };
  log(`  seq 1 MiB (${mibs} MiB): write ${r.seqWriteMBps} MB/s, read ${r.seqReadMBps} MB/s\n`);
  log(`  rand 4 KiB x${ops} qd${depth}: write ${r.randWriteIops} IOPS (p50 ${r.randWriteLatencyUs.p50} us, p99 ${r.randWriteLatencyUs.p99} us), read ${r.randReadIops} IOPS (p50 ${r.randReadLatencyUs.p50} us, p99 ${r.randReadLatencyUs.p99} us)\n`);
  return r;
}

/** What the workload needs, narrower than ProgramEnv so it runs against fakes too. */
export interface BlkbenchParts {
  readonly domid: number;
  readonly xenstore: XenstoreClient;
  readonly console: (text: string) => void;
  readonly evtchn: EventChannels;
  readonly grantFrames: readonly Uint8Array[];
  readonly pages: PageAllocator;
  readonly cmdline?: string;
  /** Options passed through to each Blkfront (tests shorten timeouts, pick queues). */
  readonly maxQueues?: number;
  readonly timeoutMs?: number;
}

export interface BlkbenchSummary {
  readonly ok: boolean;
  readonly checks: number;
  readonly errors: number;
  readonly fatal: string | null;
  readonly disks: DiskReport[];
}

/** At most this many error lines per disk go to xenstore: a node holds 4096 bytes. */
const ERRORS_IN_SUMMARY = 4;

export async function blkbench(env: BlkbenchEnv): Promise<void> {
  await runBlkbench({ domid: env.domid, xenstore: env.xenstore, console: env.console, evtchn: kernelChannels(env), grantFrames: env.grantFrames, pages: env, cmdline: env.cmdline });
  env.kernel.shutdown('poweroff');
}

export async function runBlkbench(env: BlkbenchParts): Promise<BlkbenchSummary> {
  const xs = env.xenstore;
  const log = env.console;
  const wantBench = (env.cmdline ?? '').split(/\s+/).includes('bench');
  const grants = new GrantTableWriter(env.grantFrames);
  const evtchn = env.evtchn;
  const disks: DiskReport[] = [];
  let fatal: string | null = null;
  try {
    const vbds = await xs.directory('device/vbd').catch(() => [] as string[]);
    log(`blkbench: domain ${env.domid}: ${vbds.length} disk(s) under device/vbd${wantBench ? ', benchmark on' : ''}\n`);
    for (const vbd of vbds) {
      const report: DiskReport = { vbd, sectors: 0, checks: 0, errors: [], features: {} };
      disks.push(report);
      try {
        const dev = await Blkfront.connect({ xenstore: xs, evtchn, grants, pages: env.pages, frontendDir: `device/vbd/${vbd}`, maxQueues: env.maxQueues ?? 2, timeoutMs: env.timeoutMs });
        const { sectors, sectorSize, flushCache, discard, persistent, indirect, maxSegments, queues, ringPageOrder } = dev.info;
        Object.assign(report, { sectors });
        Object.assign(report.features, { sectorSize, flushCache, discard, persistent, indirect, maxSegments, queues, ringPageOrder });
        log(`blkbench: vbd ${vbd}: ${sectors} sectors of 512 (sector-size ${sectorSize}), ${JSON.stringify(report.features)}\n`);
        const rng = new Rng(0x5eed ^ Number(vbd));
        Object.assign(report, { checks: await verify(dev, rng, report, log) });
        log(`blkbench: vbd ${vbd}: ${report.checks} checks, ${report.errors.length} errors\n`);
        if (wantBench) report.bench = await bench(dev, rng, log);
        await dev.close();
        if (dev.leakedGrants > 0) report.errors.push(`${dev.leakedGrants} grants still in use by the backend at close`);
      } catch (e) {
        report.errors.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
        log(`blkbench: vbd ${vbd}: ${report.errors.at(-1)}\n`);
      }
    }
  } catch (e) {
    fatal = e instanceof Error ? e.message : String(e);
  }
  const checks = disks.reduce((n, d) => n + d.checks, 0);
  const errors = disks.reduce((n, d) => n + d.errors.length, 0) + (fatal === null ? 0 : 1);
  const ok = fatal === null && disks.length > 0 && errors === 0;
  const summary: BlkbenchSummary = { ok, checks, errors, fatal, disks };
  const brief = { ...summary, disks: disks.map((d) => ({ ...d, errors: d.errors.slice(0, ERRORS_IN_SUMMARY) })) };
  await xs.write('data/blkbench', JSON.stringify(brief)).catch((e: unknown) => log(`blkbench: writing data/blkbench failed: ${String(e)}\n`));
  log(`blkbench: ${ok ? 'OK' : 'FAILED'}: ${checks} checks, ${errors} errors over ${disks.length} disk(s)\n`);
  return summary;
}
