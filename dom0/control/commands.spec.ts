import { describe, expect, it } from 'vitest';
import type { DomainConfig } from '../domain-config.ts';
import {
  CONTROL_OPS,
  DOMAIN_COMMAND_PHASES,
  assertCommandAllowed,
  legalPhases,
  parseCommand,
  parseDomainRef,
  type ControlCommand,
} from './commands.ts';
import { BadConfigError, BadRequestError, NotAllowedInPhaseError } from './errors.ts';
import { DOMAIN_PHASES } from './phases.ts';

const CONFIG: DomainConfig = {
  name: 'idle',
  type: 'process',
  program: 'idle',
  memory: 16,
  vcpus: 1,
  cmdline: '',
  on_poweroff: 'destroy',
  on_reboot: 'restart',
  on_crash: 'preserve',
  disks: [],
  vifs: [],
  max_grant_frames: 64,
};

const DISK = {
  target: '/var/img/a.raw',
  format: 'raw',
  vdev: 'xvdb',
  device_id: 51728,
  access: 'rw',
  devtype: 'disk',
  discard: true,
  trusted: true,
  direct_io_safe: false,
} as const;

function badRequest(value: unknown): string {
  try {
    parseCommand(value);
  } catch (e) {
    if (e instanceof BadRequestError) return e.message;
    throw e;
  }
  throw new Error('accepted');
}

describe('parseCommand', () => {
  it('accepts one of each command and fills defaults', () => {
    const cases: [unknown, ControlCommand][] = [
      [{ op: 'create', config: CONFIG }, { op: 'create', config: CONFIG, paused: false }],
      [{ op: 'create', config: CONFIG, paused: true }, { op: 'create', config: CONFIG, paused: true }],
      [{ op: 'list' }, { op: 'list' }],
      [{ op: 'info' }, { op: 'info' }],
      [{ op: 'destroy', domain: 'web' }, { op: 'destroy', domain: 'web' }],
      [{ op: 'shutdown', domain: 3 }, { op: 'shutdown', domain: 3, reboot: false, wait: false }],
      [{ op: 'shutdown', domain: 3, reboot: true, wait: true }, { op: 'shutdown', domain: 3, reboot: true, wait: true }],
      [{ op: 'reboot', domain: 'web' }, { op: 'reboot', domain: 'web', wait: false }],
      [{ op: 'pause', domain: 1 }, { op: 'pause', domain: 1 }],
      [{ op: 'unpause', domain: 1 }, { op: 'unpause', domain: 1 }],
      [{ op: 'console-attach', domain: 'web' }, { op: 'console-attach', domain: 'web' }],
      [{ op: 'xenstore-read', path: '/local/domain/1/name' }, { op: 'xenstore-read', path: '/local/domain/1/name' }],
      [{ op: 'xenstore-write', path: 'data/x', value: '' }, { op: 'xenstore-write', path: 'data/x', value: '' }],
      [{ op: 'xenstore-ls', path: '/' }, { op: 'xenstore-ls', path: '/' }],
      [{ op: 'xenstore-rm', path: '/a' }, { op: 'xenstore-rm', path: '/a' }],
      [
        { op: 'xenstore-chmod', path: '/a', perms: [{ domid: 0, perm: 'n' }, { domid: 3, perm: 'r' }] },
        { op: 'xenstore-chmod', path: '/a', perms: [{ domid: 0, perm: 'n' }, { domid: 3, perm: 'r' }] },
      ],
      [{ op: 'xenstore-watch', path: '/a', token: 't' }, { op: 'xenstore-watch', path: '/a', token: 't' }],
      [{ op: 'subscribe-events' }, { op: 'subscribe-events' }],
      [{ op: 'subscribe-events', domain: 'web' }, { op: 'subscribe-events', domain: 'web' }],
      [{ op: 'block-attach', domain: 'web', disk: DISK }, { op: 'block-attach', domain: 'web', disk: DISK }],
      [{ op: 'block-detach', domain: 2, device: 'xvdb' }, { op: 'block-detach', domain: 2, device: 'xvdb', force: false }],
      [{ op: 'block-detach', domain: 2, device: '51728', force: true }, { op: 'block-detach', domain: 2, device: '51728', force: true }],
      [{ op: 'block-list', domain: 'web' }, { op: 'block-list', domain: 'web' }],
    ];
    for (const [input, expected] of cases) expect(parseCommand(input), JSON.stringify(input)).toEqual(expected);
    expect(new Set(cases.map(([, c]) => c.op))).toEqual(new Set(CONTROL_OPS));
  });

  it('refuses unknown ops and malformed arguments with BadRequest', () => {
    expect(badRequest({ op: 'migrate', domain: 1 })).toMatch(/^unknown command "migrate" \(known: create, list/);
    expect(badRequest(null)).toBe('a command must be an object');
    expect(badRequest({ op: 'list', extra: 1 })).toBe('list: unexpected field "extra"');
    expect(badRequest({ op: 'pause' })).toBe('pause: domain must be a domain name or domid');
    expect(badRequest({ op: 'pause', domain: -1 })).toMatch(/is not a domid/);
    expect(badRequest({ op: 'pause', domain: 0x7ff0 })).toMatch(/is not a domid/);
    expect(badRequest({ op: 'shutdown', domain: 1, wait: 'yes' })).toBe('shutdown: wait must be true or false');
    expect(badRequest({ op: 'xenstore-read', path: '' })).toMatch(/non-empty xenstore path/);
    expect(badRequest({ op: 'xenstore-read', path: 'a\0b' })).toMatch(/NUL/);
    expect(badRequest({ op: 'xenstore-read', path: '/'.repeat(3073) })).toMatch(/XENSTORE_ABS_PATH_MAX/);
    expect(badRequest({ op: 'xenstore-write', path: '/a', value: 'x'.repeat(4097) })).toMatch(/XENSTORE_PAYLOAD_MAX/);
    expect(badRequest({ op: 'xenstore-chmod', path: '/a', perms: [] })).toMatch(/non-empty list/);
    expect(badRequest({ op: 'xenstore-chmod', path: '/a', perms: [{ domid: 0, perm: 'x' }] })).toMatch(/n, r, w or b/);
  });

  it('refuses a block-attach whose disk does not validate with BadConfig', () => {
    try {
      parseCommand({ op: 'block-attach', domain: 1, disk: { ...DISK, target: 'relative.img', format: 'qcow2' } });
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(BadConfigError);
      expect((e as BadConfigError).problems.join('\n')).toMatch(/disk.target.*absolute[\s\S]*qcow2/);
    }
    expect(badRequest({ op: 'block-detach', domain: 1 })).toMatch(/device must be a string/);
  });

  it('refuses a create whose config does not validate with BadConfig, listing the problems', () => {
    try {
      parseCommand({ op: 'create', config: { ...CONFIG, memory: 0, on_crash: 'coredump-destroy' } });
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(BadConfigError);
      expect((e as BadConfigError).problems).toEqual([
        'memory: 0 is outside 1..1048576',
        'on_crash: "coredump-destroy" is not supported: xlts writes no guest core dumps yet; use destroy or preserve',
      ]);
    }
  });
});

describe('legal phases', () => {
  it('name only real phases, and never let anything act on a dying domain', () => {
    for (const phases of Object.values(DOMAIN_COMMAND_PHASES)) {
      for (const p of phases) expect(DOMAIN_PHASES).toContain(p);
      expect(phases).not.toContain('dying');
    }
  });

  it('follow xl: pause only running, unpause only paused, destroy anything alive', () => {
    expect(legalPhases('pause')).toEqual(['running']);
    expect(legalPhases('unpause')).toEqual(['paused']);
    expect(legalPhases('destroy')).toEqual(['creating', 'paused', 'running', 'shutting-down', 'shutdown', 'crashed']);
    expect(legalPhases('list')).toBeUndefined();
    expect(legalPhases('create')).toBeUndefined();
  });

  it('assertCommandAllowed throws NotAllowedInPhase with the details', () => {
    assertCommandAllowed('pause', 3, 'running');
    assertCommandAllowed('list', 3, 'dying');
    try {
      assertCommandAllowed('unpause', 3, 'running');
      throw new Error('allowed');
    } catch (e) {
      expect(e).toBeInstanceOf(NotAllowedInPhaseError);
      expect((e as NotAllowedInPhaseError).message).toBe('unpause is not allowed while domain 3 is running (only when paused)');
      expect((e as NotAllowedInPhaseError).toWire()).toEqual({
        code: 'NotAllowedInPhase',
        message: 'unpause is not allowed while domain 3 is running (only when paused)',
        op: 'unpause',
        domid: 3,
        phase: 'running',
        allowed: ['paused'],
      });
    }
  });
});

describe('parseDomainRef', () => {
  it('reads digits as a domid and anything else as a name', () => {
    expect(parseDomainRef('7')).toBe(7);
    expect(parseDomainRef('web')).toBe('web');
    expect(parseDomainRef('7a')).toBe('7a');
  });
});
