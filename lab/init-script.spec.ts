import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { labInitScript } from './init-script.ts';
import { LAB_PORT, LAB_TAG } from './protocol.ts';

describe('labInitScript', () => {
  const script = labInitScript([['virtio', 'virtio_pci'], ['kvm', 'kvm_amd']]);

  it('is valid sh', () => {
    const r = spawnSync('/bin/sh', ['-n'], { input: script, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('loads each module group in the order given, groups in parallel, and uses the protocol names', () => {
    expect(script).toContain('for group in "virtio virtio_pci" "kvm kvm_amd"; do');
    for (const name of Object.values(LAB_PORT)) expect(script).toContain(`      ${name}) `);
    expect(script).toContain(` ${LAB_TAG.hostRoot} $R`);
    expect(script).toContain(` ${LAB_TAG.job} /job`);
  });

  it('runs the command through the host /bin/sh, never busybox applets, and reports byte counts', () => {
    expect(script).toMatch(/chroot \$R \/usr\/bin\/env -i \/bin\/sh /);
    expect(script).toContain('echo "done $status $(sent $OUT) $(sent $ERR)" >&3');
  });
});
