// The back end of a PV console ring (xenconsoled's job in Xen): `out` drained to a sink on every
// kick, input queued and fed into `in` as room appears, the guest notified whenever either ring
// moved. An impossible index from the guest stops this console, nothing else. Used by xltsd over
// the page it maps from the guest's RAM file, and by the foreground shim (pv-console.ts).
import { ByteRingOverflowError, consoleBackend, type ByteRingReader, type ByteRingWriter } from '../../ring-buffer/index.ts';

/** Input bytes held while the guest's `in` ring is full (default). */
const MAX_QUEUED_INPUT = 64 * 1024;

export class ConsoleRingBackend {
  private readonly input: ByteRingWriter;
  private readonly output: ByteRingReader;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private brokenBy: ByteRingOverflowError | null = null;
  private stopped = false;

  constructor(
    page: Uint8Array,
    private readonly notifyGuest: () => void,
    private readonly onOutput: (bytes: Uint8Array) => void,
    private readonly onBroken: (err: ByteRingOverflowError) => void = () => undefined,
    private readonly maxQueuedInput = MAX_QUEUED_INPUT,
  ) {
    const rings = consoleBackend(page);
    this.input = rings.input;
    this.output = rings.output;
  }

  get broken(): ByteRingOverflowError | null {
    return this.brokenBy;
  }

  /** Bytes of input waiting for room in the guest's `in` ring. */
  get queuedInput(): number {
    return this.queuedBytes;
  }

  /** Stops serving: input is dropped, kicks do nothing. */
  stop(): void {
    this.stopped = true;
    this.queued = [];
    this.queuedBytes = 0;
  }

  /** Queues keyboard input; returns the bytes accepted. */
  write(bytes: Uint8Array): number {
    if (this.brokenBy || this.stopped) return 0;
    const n = Math.min(bytes.length, this.maxQueuedInput - this.queuedBytes);
    if (n > 0) {
      this.queued.push(bytes.slice(0, n));
      this.queuedBytes += n;
    }
    this.kick();
    return n;
  }

  /** The guest kicked its console port (or input arrived). */
  kick(): void {
    if (this.brokenBy || this.stopped) return;
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
      this.onBroken(err);
    }
  }
}
