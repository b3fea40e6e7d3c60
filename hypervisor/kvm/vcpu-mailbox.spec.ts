import { describe, expect, it } from 'vitest';
import { CONTROL, MAILBOX_WORDS, controlCommand, createMailbox, isVcpuWorkerData, nextControl } from './vcpu-mailbox.ts';

describe('vCPU mailbox', () => {
  it('every command is a new CONTROL word that keeps its command', () => {
    let word = Atomics.load(createMailbox(CONTROL.RUN), MAILBOX_WORDS.CONTROL);
    const seen = new Set([word]);
    for (const command of [CONTROL.PAUSE, CONTROL.PAUSE, CONTROL.RUN, CONTROL.STOP]) {
      word = nextControl(word, command);
      expect(controlCommand(word)).toBe(command);
      expect(seen.has(word)).toBe(false);
      seen.add(word);
    }
  });

  it('wraps inside the positive int32 range', () => {
    const last = (0x1fff_ffff << 2) | CONTROL.PAUSE;
    const next = nextControl(last, CONTROL.RUN);
    expect(next).toBe(CONTROL.RUN);
    expect(Int32Array.of(last)[0]).toBe(last);
  });

  it('validates what a worker is started with', () => {
    const mailbox = createMailbox(CONTROL.PAUSE).buffer as SharedArrayBuffer;
    expect(isVcpuWorkerData({ vcpuFd: 5, vcpuId: 0, mmapSize: 12288, mailbox })).toBe(true);
    expect(isVcpuWorkerData({ vcpuFd: 5, vcpuId: 0, mmapSize: 12288, mailbox: new ArrayBuffer(32) })).toBe(false);
    expect(isVcpuWorkerData({ vcpuFd: '5', vcpuId: 0, mmapSize: 12288, mailbox })).toBe(false);
    expect(Atomics.load(new Int32Array(mailbox), MAILBOX_WORDS.PAUSED_AT)).toBe(-1);
  });
});
