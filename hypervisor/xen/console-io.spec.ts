import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import { CONSOLEIO_read, CONSOLEIO_write, __HYPERVISOR_console_io } from './abi.ts';
import { CONSOLEIO_MAX_WRITE } from './console-io.ts';
import { XEN_EFAULT, XEN_ENOSYS } from './errors.ts';
import { testDomain } from './test-support.ts';

const BUF = 0x5000;

describe('console_io', () => {
  it('passes CONSOLEIO_write bytes to the sink', () => {
    const t = testDomain();
    const msg = new TextEncoder().encode('Linux version 6.1\n');
    t.memory.view(gpa(BUF), msg.length).set(msg);
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_write, msg.length, BUF).result).toBe(0);
    expect(t.engine.text).toBe('Linux version 6.1\n');
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_write, 0, 0).result).toBe(0);
  });

  it('reads pending input into the guest buffer and returns the count', () => {
    const t = testDomain();
    t.engine.input = [104, 105, 33];
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_read, 2, BUF).result).toBe(2);
    expect(Array.from(t.memory.view(gpa(BUF), 3))).toEqual([104, 105, 0]);
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_read, 16, BUF).result).toBe(1);
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_read, 16, BUF).result).toBe(0);
  });

  it('faults on bad buffers and bounds huge writes', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_write, 16, 64 * 4096 - 8).result).toBe(-XEN_EFAULT);
    expect(t.engine.output).toEqual([]);
    // count is an unsigned int: 0xffffffff bytes would be 4 GiB; one call passes at most the cap.
    expect(t.call(__HYPERVISOR_console_io, CONSOLEIO_write, 0xffff_ffff, 0).result).toBe(0);
    expect(t.engine.output.length).toBe(CONSOLEIO_MAX_WRITE);
    expect(t.log.lines.length).toBe(1);
  });

  it('answers -ENOSYS without a console (Linux then falls back to port 0xE9) and for unknown commands', () => {
    const t = testDomain();
    const bare = testDomain({ console: undefined });
    expect(bare.call(__HYPERVISOR_console_io, CONSOLEIO_write, 1, BUF).result).toBe(-XEN_ENOSYS);
    expect(bare.log.lines).toEqual([]);
    expect(t.call(__HYPERVISOR_console_io, 7, 1, BUF).result).toBe(-XEN_ENOSYS);
  });
});
