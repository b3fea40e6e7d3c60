// A shell script that runs one Linux guest through xltsd as a user would (xlts create, xlts
// console, xlts block-attach, ...), for the demo and the lab tests: it runs inside the KVM lab
// (or on a host whose /dev/kvm can run Linux). One console stays attached for the whole session,
// its input a fifo and its output a file, so the host's commands can be interleaved with the
// guest's. The body gets three shell functions:
//   xlts ARGS...      the CLI of this checkout, against the session's private xltsd
//                     (node "$XLTS_JS" ARGS... where a command is needed, e.g. under timeout)
//   send 'LINE'       types LINE into the guest's shell
//   step N [SECONDS]  waits until the guest has run everything sent so far (it prints STEP-N;
//                     the shell's echo of the command shows $((0+N)) unexpanded, so the echo never
//                     matches); status 1 on timeout
//   finish STATUS     ends the session: the console and xltsd's log are shown, xltsd stopped
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface XltsdSessionOptions {
  /** Names the session's run directory (/tmp/xltsd-<name>; the lab's /tmp is its own). */
  readonly name: string;
  /** The domain's name, as its cfg gives it. */
  readonly domain: string;
  /** `xlts create` arguments: the cfg and key=value overrides. */
  readonly create: readonly string[];
  /** A frontend's state node that says the guest is up (e.g. its first disk's). */
  readonly readyNode: string;
  readonly body: string;
  /** Copy the console to stdout as it arrives, rather than at the end. */
  readonly live?: boolean;
}

/** Quotes a word for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function xltsdSessionScript(o: XltsdSessionOptions): string {
  const run = `/tmp/xltsd-${o.name}`;
  return `
set -u
export XLTS_RUN_DIR=${run}
cd ${shQuote(ROOT)}
XLTS_JS=${shQuote(`${ROOT}/bin/xlts.js`)}
xlts() { node "$XLTS_JS" "$@"; }
xlts create ${o.create.map(shQuote).join(' ')} || exit 10
# The shell is next once /init has loaded the PV drivers and the device is Connected.
for i in $(seq 1 300); do [ "$(xlts xenstore-read ${shQuote(o.readyNode)} 2>/dev/null)" = 4 ] && break; sleep 1; done
sleep 3
mkfifo /tmp/console-in
xlts console ${shQuote(o.domain)} </tmp/console-in >/tmp/console-out 2>&1 &
exec 3>/tmp/console-in
${o.live === true ? 'tail -f /tmp/console-out & tailer=$!' : ''}
send() { printf '%s\\n' "$1" >&3; }
step() {
  send "echo STEP-\\$((0+$1))"
  for i in $(seq 1 \${2:-120}); do grep -q "STEP-$1" /tmp/console-out && return 0; sleep 1; done
  echo "TIMEOUT waiting for step $1"
  # What is the guest doing? Its blocked tasks and CPU backtraces (sysrq w, l through control/sysrq,
  # which Linux's xenbus handles) land on the console shown at the end.
  xlts list
  for key in w l; do xlts xenstore-write /local/domain/1/control/sysrq $key; sleep 10; done
  return 1
}
finish() {
  sleep 1
  ${o.live === true ? 'kill $tailer 2>/dev/null' : `echo '--- console ---'; cat /tmp/console-out`}
  echo '--- xltsd log (tail) ---'
  tail -20 ${run}/xltsd.log
  kill $(cat ${run}/xltsd.pid) 2>/dev/null
  exit "$1"
}
${o.body}
finish 0
`;
}
