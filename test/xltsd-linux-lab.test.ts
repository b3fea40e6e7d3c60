// xltsd with a Linux guest, in the KVM lab: inside one lab boot, the README's commands as a user
// types them: `xlts create examples/linux.cfg` (xltsd starts on demand), Linux's xenbus connects
// to our XenStore over its store ring (it writes control/feature-poweroff itself), Debian's
// xenstore-ls reads the tree through our socket, `xlts console` relays hvc0 both ways, and
// `xlts shutdown -w` powers the guest off through control/shutdown; nothing is left afterwards.
// Skips, loudly, only when QEMU or busybox is absent.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { QEMU_BINARY, runInLab } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : !fs.existsSync('/bin/busybox')
        ? '/bin/busybox is missing (Debian package busybox-static; run npm run setup)'
        : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/xltsd-linux-lab.test.ts SKIPPED: ${skipReason} ***\n`);

// Runs inside the lab; every step prints a marker the test looks for.
const SCRIPT = `
export XLTS_RUN_DIR=/tmp/xltsd-lab
cd ${ROOT}
xlts() { node ${ROOT}/bin/xlts.js "$@"; }
xlts create examples/linux.cfg || exit 10
for i in $(seq 1 300); do
  [ "$(xlts xenstore-read /local/domain/1/control/feature-poweroff 2>/dev/null)" = 1 ] && break
  sleep 1
done
echo "FEATURE-POWEROFF: $(xlts xenstore-read /local/domain/1/control/feature-poweroff)"
XENSTORED_PATH=/tmp/xltsd-lab/xenstored.sock xenstore-ls /local/domain/1 | sed 's/^/XSLS: /'
xlts list -l | tr -d '\\n ' | sed 's/^/LIST: /'; echo
echo 'echo "CONSOLE-GOT: $((6*7))"' | timeout 30 node ${ROOT}/bin/xlts.js console linux | sed 's/^/CON: /'
timeout 180 node ${ROOT}/bin/xlts.js shutdown -w linux; echo "SHUTDOWN-STATUS: $?"
xlts list -l | tr -d '\\n ' | sed 's/^/AFTER: /'; echo
echo "SHM-LEFT: $(ls /dev/shm | grep -c xlts)"
sed 's/^/XLTSD: /' /tmp/xltsd-lab/xltsd.log
kill $(cat /tmp/xltsd-lab/xltsd.pid)
`;

describe.skipIf(skipReason !== undefined)('xltsd with a Linux guest, in the lab', () => {
  it('creates it from examples/linux.cfg, serves its xenbus and console, and shuts it down through control/shutdown', async () => {
    await ensureLinuxGuest();
    const r = await runInLab({ argv: ['sh', '-c', SCRIPT], timeoutMs: 600_000 });
    const out = r.stdout.toString('utf8');
    const why = `stdout:\n${out.slice(-6000)}\nstderr:\n${r.stderr.toString('utf8').slice(-3000)}`;
    expect(out, why).toContain('FEATURE-POWEROFF: 1');
    expect(out, why).toMatch(/XSLS: name = "linux"/);
    expect(out, why).toMatch(/XSLS:  feature-reboot = "1"/);
    expect(out, why).toMatch(/LIST: \[\{"domid":1,"name":"linux".*"state":"running"/);
    expect(out, why).toContain('CON: CONSOLE-GOT: 42');
    expect(out, why).toContain('SHUTDOWN-STATUS: 0');
    expect(out, why).toContain('AFTER: []');
    expect(out, why).toContain('SHM-LEFT: 0');
  }, 900_000);
});
