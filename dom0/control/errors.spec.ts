import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  BadConfigError,
  BadRequestError,
  BusyError,
  CONTROL_ERROR_CODES,
  ControlError,
  ControlProtocolError,
  InternalControlError,
  NameInUseError,
  NoSuchDomainError,
  NotAllowedInPhaseError,
  UnsupportedCommandError,
  XenstoreOpError,
  controlErrorFromWire,
  toWireError,
} from './errors.ts';

const ONE_OF_EACH: ControlError[] = [
  new NoSuchDomainError('web'),
  new NoSuchDomainError(7),
  new NameInUseError('web', 3),
  new BadConfigError(['memory: 0 is outside 1..1048576']),
  new NotAllowedInPhaseError('pause', 3, 'paused', ['running']),
  new BusyError('domain 3 is being destroyed'),
  new BadRequestError('pause: domain must be a domain name or domid'),
  new XenstoreOpError('ENOENT', '/local/domain/9'),
  new UnsupportedCommandError('console-attach'),
  new InternalControlError('shim failed to start: ENOENT'),
];

describe('control errors', () => {
  it('cover every code', () => {
    expect(new Set(ONE_OF_EACH.map((e) => e.code))).toEqual(new Set(CONTROL_ERROR_CODES));
  });

  it('survive the wire: same class, code, message and details after msgpack', () => {
    for (const e of ONE_OF_EACH) {
      const back = controlErrorFromWire(unpack(pack(e.toWire())));
      expect(back.constructor, e.code).toBe(e.constructor);
      expect(back.toWire()).toEqual(e.toWire());
      expect(back.message).toBe(e.message);
    }
  });

  it('say what went wrong in words', () => {
    expect(new NoSuchDomainError('web').message).toBe('no domain named "web"');
    expect(new NoSuchDomainError(7).message).toBe('no domain with domid 7');
    expect(new NameInUseError('web', 3).message).toBe('a domain named "web" already exists (domid 3)');
    expect(new XenstoreOpError('ENOENT', '/a').message).toBe('/a: ENOENT');
  });

  it('turn anything else into Internal on the wire', () => {
    expect(toWireError(new TypeError('x is undefined'))).toEqual({ code: 'Internal', message: 'x is undefined' });
    expect(toWireError('boom')).toEqual({ code: 'Internal', message: 'boom' });
    expect(toWireError(new BusyError('later'))).toEqual({ code: 'Busy', message: 'later' });
  });

  it('keep an unknown code from a newer daemon as Internal with its words', () => {
    const e = controlErrorFromWire({ code: 'QuotaExceeded', message: 'too many domains' });
    expect(e).toBeInstanceOf(InternalControlError);
    expect(e.message).toBe('too many domains');
  });

  it('refuse malformed wire errors as protocol errors', () => {
    expect(() => controlErrorFromWire({ message: 'no code' })).toThrow(ControlProtocolError);
    expect(() => controlErrorFromWire('NoSuchDomain')).toThrow(ControlProtocolError);
    expect(() => controlErrorFromWire({ code: 'NoSuchDomain', message: 'm' })).toThrow('NoSuchDomain error with malformed details');
    expect(() => controlErrorFromWire({ code: 'NotAllowedInPhase', message: 'm', op: 'pause', domid: 1, phase: 'sleeping', allowed: [] })).toThrow(ControlProtocolError);
    expect(() => controlErrorFromWire({ code: 'BadConfig', message: 'm', problems: [1] })).toThrow(ControlProtocolError);
  });
});
