import { describe, expect, it } from 'vitest';
import { LAB_MODULE_GROUPS, labCacheDir } from './lab-image.ts';

describe('labCacheDir', () => {
  it('prefers XLTS_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(labCacheDir({ XLTS_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/c/lab');
    expect(labCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/xlts/lab');
    expect(labCacheDir({ HOME: '/h' })).toBe('/h/.cache/xlts/lab');
  });
});

describe('LAB_MODULE_GROUPS', () => {
  it('names what the lab needs: virtio PCI, 9p over virtio, virtio-serial, kvm_amd', () => {
    expect(LAB_MODULE_GROUPS.flat().sort()).toEqual(['9p', '9pnet_virtio', 'kvm_amd', 'virtio_console', 'virtio_pci']);
  });
});
