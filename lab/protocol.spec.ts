import { describe, expect, it } from 'vitest';
import { parseCtlLine } from './protocol.ts';

describe('parseCtlLine', () => {
  it('reads the three messages of the closed set', () => {
    expect(parseCtlLine('ready 4.52')).toEqual({ kind: 'ready', uptimeSec: 4.52 });
    expect(parseCtlLine('fail cannot mount the host root')).toEqual({ kind: 'fail', reason: 'cannot mount the host root' });
    expect(parseCtlLine('done 3 1024 0\r')).toEqual({ kind: 'done', status: 3, stdoutBytes: 1024, stderrBytes: 0 });
  });

  it('refuses anything else, including a done without its byte counts', () => {
    for (const line of ['', 'hello', 'done 0', 'done 0 1 x', 'done -1 0 0', 'ready soon']) {
      expect(parseCtlLine(line)).toBeUndefined();
    }
  });
});
