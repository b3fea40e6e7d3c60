// The back end of one guest's PV console, in xltsd (xenconsoled's job in Xen): the console page
// read from the guest's RAM file, `out` drained to the domain's console log on every kick, input
// from attached clients fed into `in`, the guest notified whenever either ring moved. An
// impossible index from the guest stops this console, nothing else.
import { ByteRingOverflowError, consoleBackend, type ByteRingReader, type ByteRingWriter } from '../../ring-buffer/index.ts';

/** Input bytes held while the guest's `in` ring is full. */
const MAX_QUEUED_INPUT = 64 * 1024;

export class ConsoleBackend {
  private readonly input: ByteRingWriter;
  private readonly output: ByteRingReader;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private brokenBy: Error | null = null;

  constructor(
    page: Uint8Array,
    private readonly notifyGuest: () => void,
    private readonly onOutput: (bytes: Uint8Array) => void,
  ) {
    const rings = consoleBackend(page);
    this.input = rings.input;
    this.output = rings.output;
  }

  get broken(): Error | null {
    return this.brokenBy;
  }

  /** Queues keyboard input; returns the bytes accepted. */
  write(bytes: Uint8Array): number {
    if (this.brokenBy) return 0;
    const n = Math.min(bytes.length, MAX_QUEUED_INPUT - this.queuedBytes);
    if (n > 0) {
      this.queued.push(bytes.slice(0, n));
      this.queuedBytes += n;
    }
    this.kick();
    return n;
  }

  /** The guest kicked its console port (or input arrived). */
  kick(): void {
    if (this.brokenBy) return;
    try {
      let moved = false;
      for (;;) {
        const out = this.output.read();
        if (out.length === 0) break;
        moved = true;
        this.onOutput(out);
      }
      while (this.queued.length > 0) {
        const head = this.queued[0]!;
        const n = this.input.write(head);
        if (n === 0) break;
        moved = true;
        this.queuedBytes -= n;
        if (n === head.length) this.queued.shift();
        else this.queued[0] = head.subarray(n);
      }
      if (moved) this.notifyGuest();
    } catch (err) {
      if (!(err instanceof ByteRingOverflowError)) throw err;
      this.brokenBy = err;
      this.queued = [];
      this.queuedBytes = 0;
    }
  }
}
