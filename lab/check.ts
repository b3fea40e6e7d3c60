// `xlts lab --check`: boot the lab once, run a probe in it, and say whether the lab works and
// what it cost. The probe checks what lab users rely on: a /dev/kvm that opens read-write, SVM
// in the emulated CPU, kvm_amd with nested paging, the XLTS_IN_LAB flag, and node from the
// host's root.

import { detectKvmHost, type KvmHostInfo } from './kvm-host.ts';
import type { LabLog } from './lab-image.ts';
import { runInLab, type LabRunResult } from './run-in-lab.ts';

/** Runs under the host's /bin/sh (dash) in the lab; one key=value per line. */
const PROBE_SCRIPT = [
  'if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then echo kvm=ok; else echo kvm=fail; fi',
  'echo "svm=$(grep -c -w svm /proc/cpuinfo)"',
  'echo "npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"',
  'echo "nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)"',
  'echo "in_lab=${XLTS_IN_LAB:-}"',
  'echo "kernel=$(uname -r)"',
  't0=$(cut -d" " -f1 /proc/uptime)',
  'echo "node=$(node --version 2>&1)"',
  't1=$(cut -d" " -f1 /proc/uptime)',
  'echo "node_s=$(awk -v a="$t0" -v b="$t1" "BEGIN { print b - a }")"',
].join('\n');

export interface LabCheckReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly probe: Readonly<Record<string, string>>;
  readonly host: KvmHostInfo;
  readonly run: LabRunResult;
}

export async function checkLab(
  options: { timeoutMs?: number; log?: LabLog; signal?: AbortSignal } = {},
): Promise<LabCheckReport> {
  const run = await runInLab({
    argv: ['/bin/sh', '-c', PROBE_SCRIPT],
    rw: [],
    timeoutMs: options.timeoutMs ?? 180_000,
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  const probe: Record<string, string> = {};
  for (const line of run.stdout.toString('utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) probe[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const problems: string[] = [];
  if (run.status !== 0) problems.push(`probe exited with status ${run.status}: ${run.stderr.toString('utf8').trim()}`);
  if (probe.kvm !== 'ok') problems.push('/dev/kvm is missing or does not open read-write');
  if (!(Number(probe.svm) > 0)) problems.push('the emulated CPU shows no svm flag');
  if (probe.npt !== 'Y' && probe.npt !== '1') problems.push(`kvm_amd npt=${probe.npt ?? '?'} (nested paging off)`);
  if (probe.in_lab !== '1') problems.push('XLTS_IN_LAB is not set for the command');
  if (!/^v[0-9]+\./.test(probe.node ?? '')) problems.push(`node does not run: ${probe.node ?? 'no output'}`);
  return { ok: problems.length === 0, problems, probe, host: detectKvmHost(), run };
}

/** The report as the CLI prints it. */
export function formatLabCheck(report: LabCheckReport): string {
  const { run, probe } = report;
  const s = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const image = run.image;
  const lines = [
    `lab: ${report.ok ? 'works' : 'BROKEN'}`,
    ...report.problems.map((p) => `  problem: ${p}`),
    `  host /dev/kvm   ${report.host.message}`,
    `  kernel          ${image.kernel.package} ${image.kernel.version} (${image.kernel.release})`,
    `  initramfs       ${image.initramfs}${image.built ? ' (built now)' : ' (cached)'}`,
    `  image ready     ${s(run.timings.imageMs)}`,
    `  QEMU to shell   ${s(run.timings.bootMs)} (QEMU start to the init about to run the command)`,
    `  first output    ${s(run.timings.firstOutputMs)}`,
    `  total           ${s(run.timings.totalMs)} (image, boot, probe, VM gone)`,
    `  in the lab      /dev/kvm ${probe.kvm ?? '?'}, svm on ${probe.svm ?? '?'} vCPUs, kvm_amd npt=${probe.npt ?? '?'} nested=${probe.nested ?? '?'}, kernel ${probe.kernel ?? '?'}`,
    `  node            ${probe.node ?? '?'} (node --version took ${probe.node_s ?? '?'} s)`,
  ];
  return `${lines.join('\n')}\n`;
}
