// Names and messages shared by the host side of the lab (run-in-lab.ts, lab-vm.ts) and the lab's
// init script (init-script.ts), declared once so the two cannot drift apart.
//
// Channels between host and L1 (all virtio-serial ports, so each is a byte stream with flow
// control, and closing the host end is seen by the guest as end of file):
//   xlts.ctl     both ways, lines: guest -> host "ready <uptime>", "fail <why>",
//                "done <status> <stdout bytes> <stderr bytes>"; host -> guest "bye".
//                The guest's init also treats end of file here (the host process is gone) as
//                the order to power off, so an orphaned VM never outlives its caller.
//   xlts.stdin   host -> guest, the command's stdin; the host half-closes it at end of input.
//   xlts.stdout  guest -> host, the command's stdout.
//   xlts.stderr  guest -> host, the command's stderr.
// The serial console (ttyS0) carries only kernel and init diagnostics, never command output.
//
// Why the byte counts in "done": a port's data can sit in QEMU's queue (throttled because the
// host socket was full) when the exit status arrives on the control port, and killing QEMU then
// would lose it. The init reads how many bytes each port sent from virtio_console's debugfs
// stats, and the host waits until it has received that many before it ends the VM.

export const LAB_PORT = {
  ctl: 'xlts.ctl',
  stdin: 'xlts.stdin',
  stdout: 'xlts.stdout',
  stderr: 'xlts.stderr',
} as const;

export type LabPortRole = keyof typeof LAB_PORT;

/** 9p mount tags. A --rw share number n gets the tag `${LAB_TAG.rwPrefix}${n}`. */
export const LAB_TAG = {
  hostRoot: 'xltshostroot',
  job: 'xltsjob',
  rwPrefix: 'xltsrw',
} as const;

/** Kernel command-line flag the lab boots with; kvm-host.ts reads it from /proc/cmdline. */
export const LAB_CMDLINE_FLAG = 'xlts_lab=1';

/** Environment variable the lab sets for the command (to "1"). */
export const LAB_ENV_FLAG = 'XLTS_IN_LAB';

/** Files of the per-run job share, written by the host before boot, read by the init. */
export const LAB_JOB_FILE = {
  /** Sourced by the init as root after the root mounts: --rw shares and read-only binds. */
  setup: 'setup.sh',
  /** Run by the host's /bin/sh inside the chroot: environment, cwd, privilege drop, exec. */
  job: 'job.sh',
} as const;

/** Where the init copies job.sh inside the chroot (on the private /run tmpfs). */
export const LAB_JOB_PATH_IN_ROOT = '/run/xlts-lab-job.sh';

/** A control-port message from the lab's init. */
export type LabCtlMessage =
  | { readonly kind: 'ready'; readonly uptimeSec: number }
  | { readonly kind: 'fail'; readonly reason: string }
  | {
      readonly kind: 'done';
      readonly status: number;
      readonly stdoutBytes: number;
      readonly stderrBytes: number;
    };

/** Parses one control line; undefined for anything not in the closed set above. */
export function parseCtlLine(line: string): LabCtlMessage | undefined {
  const words = line.trim().split(/\s+/);
  const [kind, ...rest] = words;
  const int = (s: string | undefined): number | undefined =>
    s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined;
  switch (kind) {
    case 'ready': {
      const uptimeSec = Number(rest[0]);
      return Number.isFinite(uptimeSec) ? { kind, uptimeSec } : undefined;
    }
    case 'fail':
      return { kind, reason: rest.join(' ') };
    case 'done': {
      const [status, stdoutBytes, stderrBytes] = rest.map(int);
      if (status === undefined || stdoutBytes === undefined || stderrBytes === undefined) {
        return undefined;
      }
      return { kind, status, stdoutBytes, stderrBytes };
    }
    default:
      return undefined;
  }
}
