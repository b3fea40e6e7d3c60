// `xlts bench blk`, KVM lab section: Linux on our PV disk against Linux on QEMU's virtio-blk,
// side by side in one lab run (the lab's /dev/kvm is real KVM, see lab/README.md).
//   PV:    `xlts create examples/linux-disk.cfg disk=[<image> as xvda]` against a private xltsd;
//          Linux's xen-blkfront on /dev/xvda, blkback in xltsd doing buffered I/O on the image.
//   QEMU:  qemu-system-x86_64 -accel kvm with `-drive if=virtio,cache=writeback,aio=threads` on
//          the same image file: virtio-blk on /dev/vda, QEMU's thread pool doing buffered I/O.
// Same kernel and initramfs (the default Linux guest, guests/linux). Its initramfs has no virtio
// modules, so QEMU gets the guest's initrd.cpio with a second cpio appended that carries
// virtio_ring .. virtio_blk (the kernel unpacks concatenated archives), loaded from the shell.
// Both VMs have 1 vCPU and 256 MiB and run at once, idle but for the workload in hand; the
// image is in the lab's tmpfs /tmp (no 9p below either backend).
// Workloads, busybox dd with O_DIRECT on the raw device, timed in the guest with adjtimex (us):
//   sequential 1 MiB write and read over 128 MiB; 4 KiB write and read x2000 at queue depth 1
//   (one dd, one request in flight: per-request round trip; the image is in RAM, so random
//   offsets would cost the same; busybox has no tool for random or deep-queue I/O).
// Per workload, from outside the guest: KVM exits of that VM (L1's debugfs, kvm/<pid>-<fd>/exits)
// and the requests the guest's driver completed (/sys/block/<dev>/stat), minus a no-op run's;
// for PV also blkback's counters (the daemon's block-list): requests per guest notification.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../cli/daemon-client.ts';
import type { BlockDeviceStats } from '../dom0/control/commands.ts';
import { runPaths } from '../dom0/daemon/run-dir.ts';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { buildCpio } from '../lab/cpio.ts';
import { ensureLabKernel, kernelModuleSource, labEnvironment, QEMU_BINARY, runInLab } from '../lab/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const XLTS_BIN = path.join(ROOT, 'bin/xlts.js');
const MiB = 1024 * 1024;
const IMAGE_BYTES = 256 * MiB;
const SEQ_MIB = 128;
const SMALL_OPS = 2000;
/** The QEMU initrd path, from the host side to the bench inside the lab. */
const QEMU_INITRD_ENV = 'XLTS_BLK_BENCH_QEMU_INITRD';
const VIRTIO_MODULE_ROOTS = ['virtio_blk', 'virtio_pci'];
const PV_DOMAIN = 'linux-disk';
const POLL_MS = 30_000;
const WAIT_FOR_LAB_MS = 20 * 60_000;

type EngineName = 'pv' | 'qemu';

const WORKLOADS = [
  { key: 'noop', cmd: 'true' },
  { key: 'seqw', cmd: `dd if=/dev/zero of=$D bs=1M count=${SEQ_MIB} oflag=direct` },
  { key: 'seqr', cmd: `dd if=$D of=/dev/null bs=1M count=${SEQ_MIB} iflag=direct` },
  { key: 'w4k', cmd: `dd if=/dev/zero of=$D bs=4k count=${SMALL_OPS} oflag=direct` },
  { key: 'r4k', cmd: `dd if=$D of=/dev/null bs=4k count=${SMALL_OPS} iflag=direct` },
] as const;
type WorkloadKey = (typeof WORKLOADS)[number]['key'];

interface Sample {
  readonly us: number;
  /** Requests the guest's driver completed (reads + writes in /sys/block/<dev>/stat). */
  readonly requests: number;
  /** KVM exits of the VM, or null where L1's debugfs is not readable. */
  readonly exits: number | null;
  /** The VM's exit counters by kind (debugfs files *_exits, hypercalls), over the run. */
  readonly kinds: Record<string, number>;
  /** blkback's counters over the run (PV only). */
  readonly blk: BlockDeviceStats | null;
}

type Round = Record<WorkloadKey, Sample>;

// ---------------------------------------------------------------------------------------------
// Inside the lab.

/** A guest's console as a line-oriented conversation: send a line, wait for a pattern. */
class ConsoleSession {
  private text = '';
  private cursor = 0;
  private wake: (() => void) | null = null;
  private exited: string | null = null;

  constructor(
    private readonly what: string,
    private readonly input: Writable,
    output: Readable,
    child: ChildProcess,
  ) {
    output.on('data', (b: Buffer) => {
      // XLTS_BLK_BENCH_CONSOLE=1 copies the guests' consoles to stderr.
      if (process.env.XLTS_BLK_BENCH_CONSOLE === '1') process.stderr.write(b);
      this.text += b.toString('latin1');
      this.wake?.();
    });
    child.on('exit', (code, signal) => {
      this.exited = `exited (${code ?? signal})`;
      this.wake?.();
    });
  }

  send(line: string): void {
    this.input.write(`${line}\n`);
  }

  tail(): string {
    return JSON.stringify(this.text.slice(-1500));
  }

  async expect(re: RegExp, timeoutMs: number, resend?: () => void): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    let nextResend = Date.now() + 5000;
    for (;;) {
      const m = re.exec(this.text.slice(this.cursor));
      if (m !== null) {
        this.cursor += m.index + m[0].length;
        return m;
      }
      if (this.exited !== null) throw new Error(`${this.what}: ${this.exited} while waiting for ${re}; console ${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.what}: no ${re} within ${timeoutMs / 1000} s; console ${this.tail()}`);
      if (resend !== undefined && Date.now() > nextResend) {
        resend();
        nextResend = Date.now() + 5000;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Waits until the shell has run everything typed so far (the echo of the line shows the unexpanded form). */
  private syncs = 0;
  async sync(timeoutMs = 300_000): Promise<void> {
    const n = ++this.syncs;
    const line = `echo SYNC-$((${n}+1000))`;
    this.send(line);
    await this.expect(new RegExp(`SYNC-${n + 1000}\\r?\\n`), timeoutMs, () => this.send(line));
  }
}

interface Engine {
  readonly name: EngineName;
  readonly device: string;
  readonly session: ConsoleSession;
  /** The VM's directory in L1's debugfs (kvm/<pid>-<fd>), if found. */
  readonly kvmDir: string | null;
  stats(): Promise<BlockDeviceStats | null>;
  stop(): Promise<void>;
}

const KVM_DEBUGFS = '/sys/kernel/debug/kvm';

function ensureDebugfs(): boolean {
  if (fs.existsSync(KVM_DEBUGFS)) return true;
  spawnSync('mount', ['-t', 'debugfs', 'debugfs', '/sys/kernel/debug'], { stdio: 'ignore' });
  return fs.existsSync(KVM_DEBUGFS);
}

function kvmVmDirs(): Set<string> {
  try {
    return new Set(fs.readdirSync(KVM_DEBUGFS).filter((d) => /^\d+-\d+$/.test(d)));
  } catch {
    return new Set();
  }
}

function readExits(dir: string | null): number | null {
  if (dir === null) return null;
  try {
    return Number(fs.readFileSync(path.join(KVM_DEBUGFS, dir, 'exits'), 'utf8').trim());
  } catch {
    return null;
  }
}

/** The VM's counters of exits by kind (KVM sums its vCPUs' into the VM's directory). */
function readExitKinds(dir: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (dir === null) return out;
  try {
    for (const f of fs.readdirSync(path.join(KVM_DEBUGFS, dir))) {
      if (!/_exits$|^hypercalls$/.test(f)) continue;
      const v = Number(fs.readFileSync(path.join(KVM_DEBUGFS, dir, f), 'utf8').trim());
      if (Number.isFinite(v)) out[f] = v;
    }
  } catch {
    // no debugfs: no breakdown
  }
  return out;
}

/** The shell functions the workloads run under; $D is the disk. */
function guestPrelude(device: string): string[] {
  return [
    `D=/dev/${device}`,
    // Microseconds since the epoch: busybox's date has no %N, its adjtimex shows tv_usec.
    `t() { set -- $(adjtimex | sed -n 's/.*tv_sec: *//p;s/.*tv_usec: *//p'); echo $(($1*1000000+$2)); }`,
    `st() { set -- $(cat /sys/block/${device}/stat); echo "$1 $5"; }`,
    // BEGIN, then wait for a line: the bench reads the counters before the clock starts.
    `run() { n=$1; shift; sync; echo 3 > /proc/sys/vm/drop_caches; echo "BEGIN-$n"; read go; a=$(st); s=$(t); "$@" >/dev/null 2>&1; r=$?; e=$(t); echo "END-$n $((e-s)) $r $a $(st)"; }`,
  ];
}

async function startPv(image: string, log: (s: string) => void): Promise<Engine> {
  const runDir = fs.mkdtempSync('/tmp/xlts-blk-lab-run-');
  const env = { ...process.env, XLTS_RUN_DIR: runDir };
  const before = kvmVmDirs();
  log('PV: xlts create (examples/linux-disk.cfg, the image as xvda)');
  const r = spawnSync(process.execPath, [XLTS_BIN, 'create', path.join(ROOT, 'examples/linux-disk.cfg'), `disk=["format=raw, vdev=xvda, access=rw, target=${image}"]`], { env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xlts create failed (${r.status}): ${r.stdout}${r.stderr}`);
  const c = await ControlClient.connect(runPaths(runDir).controlSocket);
  const child = spawn(process.execPath, [XLTS_BIN, 'console', PV_DOMAIN], { env, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const session = new ConsoleSession('PV guest', child.stdin, child.stdout, child);
  child.stderr.on('data', (b: Buffer) => log(`PV console: ${b.toString().trim()}`));
  log('PV: created; waiting for the shell on xlts console');
  await session.sync();
  const fresh = [...kvmVmDirs()].filter((d) => !before.has(d));
  return {
    name: 'pv',
    device: 'xvda',
    session,
    kvmDir: fresh.length === 1 ? fresh[0]! : null,
    async stats() {
      const { devices } = await c.request({ op: 'block-list', domain: PV_DOMAIN });
      return devices[0]?.stats ?? null;
    },
    async stop() {
      await c.request({ op: 'destroy', domain: PV_DOMAIN }).catch(() => undefined);
      c.close();
      child.kill();
      try {
        process.kill(Number(fs.readFileSync(runPaths(runDir).pidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // the daemon is gone already
      }
    },
  };
}

async function startQemu(image: string, kernel: string, initrd: string, modules: readonly string[], log: (s: string) => void): Promise<Engine> {
  const before = kvmVmDirs();
  log('QEMU: qemu-system-x86_64 -accel kvm, virtio-blk on the image');
  const child = spawn(
    QEMU_BINARY,
    [
      '-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1', '-nographic', '-no-reboot',
      '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1',
      // The same file blkback serves: no locking between the two, they take turns.
      '-drive', `file=${image},if=virtio,format=raw,cache=writeback,aio=threads,file.locking=off`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stderr.on('data', (b: Buffer) => log(`QEMU: ${b.toString().trim()}`));
  const session = new ConsoleSession('QEMU guest', child.stdin, child.stdout, child);
  await session.sync();
  log('QEMU: shell up; loading the virtio modules');
  session.send(`for m in ${modules.join(' ')}; do insmod /lib/modules/$m.ko; done; for i in $(seq 1 30); do [ -b /dev/vda ] && break; sleep 1; done; echo "VDA-$((0+1)) $(cat /sys/block/vda/size)"`);
  const m = await session.expect(/VDA-1 (\d+)\r?\n/, 120_000);
  if (Number(m[1]) !== IMAGE_BYTES / 512) throw new Error(`QEMU guest: /dev/vda is ${m[1]} sectors, not ${IMAGE_BYTES / 512}; console ${session.tail()}`);
  const fresh = [...kvmVmDirs()].filter((d) => !before.has(d) && d.startsWith(`${child.pid}-`));
  return {
    name: 'qemu',
    device: 'vda',
    session,
    kvmDir: fresh.length === 1 ? fresh[0]! : null,
    stats: async () => null,
    async stop() {
      session.send('poweroff -f');
      await new Promise((r) => setTimeout(r, 3000));
      child.kill('SIGKILL');
    },
  };
}

function diffStats(a: BlockDeviceStats | null, b: BlockDeviceStats | null): BlockDeviceStats | null {
  if (a === null || b === null) return null;
  const out: Record<string, number> = {};
  for (const k of Object.keys(b) as Array<keyof BlockDeviceStats>) out[k] = k === 'max_batch' ? b[k] : b[k] - a[k];
  return out as unknown as BlockDeviceStats;
}

async function runWorkloads(e: Engine): Promise<Round> {
  const s = e.session;
  for (const line of guestPrelude(e.device)) s.send(line);
  await s.sync();
  const round: Partial<Round> = {};
  for (const w of WORKLOADS) {
    s.send(`run ${w.key} ${w.cmd}`);
    await s.expect(new RegExp(`BEGIN-${w.key}\\b`), 120_000);
    const x0 = readExits(e.kvmDir);
    const k0 = readExitKinds(e.kvmDir);
    const b0 = await e.stats();
    s.send('go');
    const m = await s.expect(new RegExp(`END-${w.key} (\\d+) (\\d+) (\\d+) (\\d+) (\\d+) (\\d+)\\r?\\n`), 900_000);
    const x1 = readExits(e.kvmDir);
    const k1 = readExitKinds(e.kvmDir);
    const b1 = await e.stats();
    const [us, status, r0, w0, r1, w1] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    if (status !== 0) throw new Error(`${e.name}: '${w.cmd}' failed with status ${status}`);
    round[w.key] = { us, requests: r1 - r0 + (w1 - w0), exits: x0 === null || x1 === null ? null : x1 - x0, kinds: Object.fromEntries(Object.entries(k1).map(([k, v]) => [k, v - (k0[k] ?? 0)])), blk: diffStats(b0, b1) };
  }
  await s.sync();
  return round as Round;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The lab's table: PV and QEMU booted once each, then rounds of all workloads, engines alternating. */
export async function blkLabInside(out: NodeJS.WritableStream, rounds: number): Promise<void> {
  const log = (s: string): void => void process.stderr.write(`blk lab: ${s}\n`);
  const initrd = process.env[QEMU_INITRD_ENV];
  if (initrd === undefined || !fs.existsSync(initrd)) throw new Error(`${QEMU_INITRD_ENV} does not name the QEMU initrd (run without --inside)`);
  const guest = await ensureLinuxGuest();
  const debugfs = ensureDebugfs();
  const dir = fs.mkdtempSync('/tmp/xlts-blk-lab-');
  const image = path.join(dir, 'disk.img');
  // Written out in full, so neither side meets tmpfs holes.
  fs.writeFileSync(image, Buffer.alloc(IMAGE_BYTES));
  const modules = kernelModuleSource((await ensureLabKernel()).kernel)
    .closure(VIRTIO_MODULE_ROOTS)
    .map((m) => m.name);
  const engines: Engine[] = [];
  const samples: Record<EngineName, Round[]> = { pv: [], qemu: [] };
  try {
    engines.push(await startPv(image, log));
    engines.push(await startQemu(image, guest.kernel, initrd, modules, log));
    for (let i = 0; i < rounds; i++) {
      for (const e of i % 2 === 0 ? engines : [...engines].reverse()) {
        const r = await runWorkloads(e);
        samples[e.name].push(r);
        log(`round ${i + 1} ${e.name}: ${WORKLOADS.map((w) => `${w.key} ${(r[w.key].us / 1000).toFixed(0)} ms/${r[w.key].requests} req/${r[w.key].exits ?? '?'} exits`).join(', ')}`);
      }
    }
  } finally {
    for (const e of engines) await e.stop().catch((err: unknown) => log(`stopping ${e.name}: ${String(err)}`));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.write(blkLabTable(samples, rounds, { debugfs, pvKvm: engines[0]?.kvmDir ?? null, qemuKvm: engines[1]?.kvmDir ?? null }));
}

function blkLabTable(samples: Record<EngineName, Round[]>, rounds: number, kvm: { debugfs: boolean; pvKvm: string | null; qemuKvm: string | null }): string {
  const noop = (e: EngineName): Sample => ({
    us: median(samples[e].map((r) => r.noop.us)),
    requests: 0,
    exits: samples[e].some((r) => r.noop.exits === null) ? null : median(samples[e].map((r) => r.noop.exits!)),
    kinds: {},
    blk: null,
  });
  // Each figure per round, the no-op's time and exits taken off, then the median over rounds.
  const rate = (e: EngineName, k: WorkloadKey, units: number): number => median(samples[e].map((r) => units / (Math.max(1, r[k].us - noop(e).us) / 1e6)));
  const perRequest = (e: EngineName, k: WorkloadKey): string => {
    const n = noop(e).exits;
    if (n === null || samples[e].some((r) => r[k].exits === null)) return 'n/a';
    return median(samples[e].map((r) => (r[k].exits! - n) / Math.max(1, r[k].requests))).toFixed(1);
  };
  const reqs = (e: EngineName, k: WorkloadKey): number => median(samples[e].map((r) => r[k].requests));
  const lines: string[] = [];
  lines.push(`xlts bench blk, in the KVM lab (L1 under QEMU TCG, kvm_amd): Linux ${os.release()} host side; guests 1 vCPU, 256 MiB, same kernel and initramfs`);
  lines.push(`${rounds} rounds, engines alternating; busybox dd with O_DIRECT on the raw device; medians; 256 MiB image in the lab's tmpfs`);
  lines.push('');
  lines.push(`| workload (median of ${rounds}) | unit | PV (xen-blkfront -> blkback) | QEMU virtio-blk | PV/QEMU | target PV >= QEMU | requests PV / QEMU | exits per request PV / QEMU |`);
  lines.push('|---|---|---|---|---|---|---|---|');
  const rows: Array<[string, WorkloadKey, string, number]> = [
    [`sequential 1 MiB write (${SEQ_MIB} MiB)`, 'seqw', 'MiB/s', SEQ_MIB],
    [`sequential 1 MiB read (${SEQ_MIB} MiB)`, 'seqr', 'MiB/s', SEQ_MIB],
    [`4 KiB write qd1 (x${SMALL_OPS})`, 'w4k', 'IOPS', SMALL_OPS],
    [`4 KiB read qd1 (x${SMALL_OPS})`, 'r4k', 'IOPS', SMALL_OPS],
  ];
  for (const [label, k, unit, units] of rows) {
    const pv = rate('pv', k, units);
    const q = rate('qemu', k, units);
    const ratio = pv / q;
    lines.push(
      `| ${label} | ${unit} | ${pv.toFixed(0)} | ${q.toFixed(0)} | ${(ratio * 100).toFixed(0)}% | ${ratio >= 1 ? 'met' : 'NOT met'} | ${reqs('pv', k)} / ${reqs('qemu', k)} | ${perRequest('pv', k)} / ${perRequest('qemu', k)} |`,
    );
  }
  for (const [label, k] of [['4 KiB write qd1', 'w4k'], ['4 KiB read qd1', 'r4k']] as const) {
    const lat = (e: EngineName): string => median(samples[e].map((r) => (r[k].us - noop(e).us) / SMALL_OPS)).toFixed(0);
    lines.push(`|   ${label}: mean latency | us | ${lat('pv')} | ${lat('qemu')} | | | | |`);
  }
  lines.push('');
  // blkback's view of the PV runs: requests per notification from the guest.
  const blk = WORKLOADS.filter((w) => w.key !== 'noop').map((w) => {
    const b = samples.pv.at(-1)?.[w.key].blk ?? null;
    if (b === null) return `${w.key} n/a`;
    return `${w.key} ${b.requests} req, ${(b.requests / Math.max(1, b.notifications_in)).toFixed(2)} per notification in, ${b.notifications_out} notifications out, ${b.indirect} indirect (largest batch since connect ${b.max_batch})`;
  });
  // Where the exits of a 4 KiB request go, kind by kind (no-op's taken off), last round.
  const kinds = (e: EngineName, k: WorkloadKey): string => {
    const last = samples[e].at(-1);
    if (last === undefined || Object.keys(last[k].kinds).length === 0) return 'n/a';
    const n = Math.max(1, last[k].requests);
    return Object.entries(last[k].kinds)
      .map(([name, v]): [string, number] => [name, (v - (last.noop.kinds[name] ?? 0)) / n])
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([name, v]) => `${name} ${v.toFixed(1)}`)
      .join(', ');
  };
  lines.push(`KVM exits per request by kind, 4 KiB read, last round: PV ${kinds('pv', 'r4k')}; QEMU ${kinds('qemu', 'r4k')}.`);
  lines.push(`  sequential 1 MiB read: PV ${kinds('pv', 'seqr')}; QEMU ${kinds('qemu', 'seqr')}.`);
  lines.push(`blkback counters over each workload of the last PV round (xlts block-list): ${blk.join('; ')}.`);
  const n = (e: EngineName): string => {
    const s = noop(e);
    return `${(s.us / 1000).toFixed(1)} ms, ${s.exits ?? 'n/a'} exits`;
  };
  lines.push(`No-op run (taken off every figure): PV ${n('pv')}; QEMU ${n('qemu')}.`);
  if (!kvm.debugfs || kvm.pvKvm === null || kvm.qemuKvm === null) {
    lines.push(`Exits: n/a where a VM's directory in L1's debugfs was not found (debugfs ${kvm.debugfs ? 'mounted' : 'not mountable'}, PV ${kvm.pvKvm ?? 'none'}, QEMU ${kvm.qemuKvm ?? 'none'}).`);
  }
  lines.push('');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// On the host: build QEMU's initrd, wait for the lab to be free, run the section inside it.

/** The default guest's initrd with the virtio modules appended as a second archive. */
async function qemuInitrd(dir: string): Promise<string> {
  const guest = await ensureLinuxGuest();
  const { kernel } = await ensureLabKernel();
  const have = new Set(guest.modules);
  const mods = kernelModuleSource(kernel)
    .closure(VIRTIO_MODULE_ROOTS)
    .filter((m) => !have.has(m.name));
  const extra = buildCpio([
    { kind: 'dir', path: 'lib' },
    { kind: 'dir', path: 'lib/modules' },
    ...mods.map((m) => ({ kind: 'file' as const, path: `lib/modules/${m.name}.ko`, data: m.data, mode: 0o644 })),
  ]);
  const base = fs.readFileSync(guest.initrd);
  // The kernel reads archives back to back; each starts 4-byte aligned.
  const pad = Buffer.alloc((4 - (base.length % 4)) % 4);
  const file = path.join(dir, 'initrd-virtio.cpio');
  fs.writeFileSync(file, Buffer.concat([base, pad, extra]));
  return file;
}

/** Other engineers' lab VMs get the machine to themselves: wait while one runs. */
async function waitForLab(out: NodeJS.WritableStream): Promise<void> {
  const deadline = Date.now() + WAIT_FOR_LAB_MS;
  for (;;) {
    const r = spawnSync('pgrep', ['-f', 'qemu-system'], { encoding: 'utf8' });
    const pids = r.stdout.trim();
    if (pids === '') return;
    if (Date.now() > deadline) throw new Error(`another lab VM (pid ${pids.split('\n').join(', ')}) still runs after ${WAIT_FOR_LAB_MS / 60_000} min`);
    out.write(`  waiting for the lab: another QEMU runs (pid ${pids.split('\n').join(', ')})\n`);
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

export async function runBlkLabSection(out: NodeJS.WritableStream, rounds: number): Promise<void> {
  out.write(`\nKVM lab section: Linux on our PV disk vs QEMU+KVM virtio-blk, ${rounds} rounds\n`);
  const dir = fs.mkdtempSync('/var/tmp/xlts-blk-lab-');
  try {
    // Built here: the lab sees the host's root read-only.
    const initrd = await qemuInitrd(dir);
    await waitForLab(out);
    const r = await runInLab({
      argv: [process.execPath, XLTS_BIN, 'bench', 'blk', '--inside', '--repeat', String(rounds)],
      cwd: ROOT,
      env: { ...labEnvironment(process.env), [QEMU_INITRD_ENV]: initrd },
      timeoutMs: 1_800_000,
      stderr: process.stderr,
    });
    if (r.status !== 0) throw new Error(`the block bench failed in the lab (status ${r.status}):\n${r.stdout.toString()}`);
    out.write(r.stdout.toString());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
