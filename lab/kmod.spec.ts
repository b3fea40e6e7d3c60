import { describe, expect, it } from 'vitest';
import { LabImageError } from './errors.ts';
import { moduleDependencies, moduleLoadOrder, moduleNameOfFile, readModinfo } from './kmod.ts';

/** A minimal ELF64 relocatable with a .modinfo section holding `modinfo`. */
function fakeKo(modinfo: string): Buffer {
  const shstrtab = Buffer.from('\0.shstrtab\0.modinfo\0', 'latin1');
  const info = Buffer.from(modinfo, 'latin1');
  const dataAt = 0x40;
  const infoAt = dataAt + shstrtab.length;
  const shoff = (infoAt + info.length + 7) & ~7;
  const elf = Buffer.alloc(shoff + 3 * 64);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  elf.writeUInt16LE(1, 16); // ET_REL
  elf.writeUInt16LE(0x3e, 18);
  elf.writeBigUInt64LE(BigInt(shoff), 0x28);
  elf.writeUInt16LE(64, 0x3a);
  elf.writeUInt16LE(3, 0x3c);
  elf.writeUInt16LE(1, 0x3e);
  shstrtab.copy(elf, dataAt);
  info.copy(elf, infoAt);
  const section = (i: number, name: number, offset: number, size: number): void => {
    elf.writeUInt32LE(name, shoff + i * 64);
    elf.writeBigUInt64LE(BigInt(offset), shoff + i * 64 + 0x18);
    elf.writeBigUInt64LE(BigInt(size), shoff + i * 64 + 0x20);
  };
  section(1, 1, dataAt, shstrtab.length);
  section(2, 11, infoAt, info.length);
  return elf;
}

describe('module metadata', () => {
  it('names modules the way the kernel does', () => {
    expect(moduleNameOfFile('/lib/modules/x/kernel/arch/x86/kvm/kvm-amd.ko')).toBe('kvm_amd');
    expect(moduleNameOfFile('net/9p/9pnet_virtio.ko.xz')).toBe('9pnet_virtio');
    expect(moduleNameOfFile('modules.order')).toBeUndefined();
  });

  it('reads depends= from .modinfo', () => {
    const ko = fakeKo('license=GPL\0depends=kvm,ccp\0name=kvm_amd\0');
    expect(readModinfo(ko)).toEqual([
      ['license', 'GPL'],
      ['depends', 'kvm,ccp'],
      ['name', 'kvm_amd'],
    ]);
    expect(moduleDependencies(ko)).toEqual(['kvm', 'ccp']);
    expect(moduleDependencies(fakeKo('depends=\0'))).toEqual([]);
  });

  it('refuses a compressed module (not ELF) and an ELF without .modinfo', () => {
    expect(() => readModinfo(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0]))).toThrow(LabImageError);
    const noInfo = fakeKo('x=y\0');
    noInfo.write('.modinfX', 0x40 + 11, 'latin1');
    expect(() => readModinfo(noInfo)).toThrow(/no \.modinfo/);
  });
});

describe('moduleLoadOrder', () => {
  // The dependency shape of Debian 6.1's lab modules.
  const deps: Record<string, string[]> = {
    virtio_ring: [],
    virtio: [],
    virtio_pci_modern_dev: [],
    virtio_pci_legacy_dev: [],
    virtio_pci: ['virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_ring', 'virtio'],
    '9pnet': [],
    '9pnet_virtio': ['virtio_ring', '9pnet', 'virtio'],
    netfs: [],
    fscache: ['netfs'],
    '9p': ['9pnet', 'netfs', 'fscache'],
    irqbypass: [],
    kvm: ['irqbypass'],
    ccp: [],
    kvm_amd: ['kvm', 'ccp'],
  };

  it('puts every module after its dependencies, otherwise in the order asked', () => {
    const order = moduleLoadOrder(['virtio_pci', '9pnet_virtio', '9p', 'kvm-amd'], (n) => deps[n]);
    expect(order).toEqual([
      'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_ring', 'virtio', 'virtio_pci',
      '9pnet', '9pnet_virtio', 'netfs', 'fscache', '9p', 'irqbypass', 'kvm', 'ccp', 'kvm_amd',
    ]);
    for (const [i, name] of order.entries()) {
      for (const dep of deps[name] ?? []) expect(order.indexOf(dep)).toBeLessThan(i);
    }
  });

  it('names a missing module and who needs it, and refuses cycles', () => {
    expect(() => moduleLoadOrder(['a'], (n) => (n === 'a' ? ['b'] : undefined))).toThrow(/b \(needed by a\)/);
    expect(() => moduleLoadOrder(['a'], (n) => (n === 'a' ? ['b'] : ['a']))).toThrow(/cycle: a -> b -> a/);
  });
});
