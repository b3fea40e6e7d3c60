// Notification primitives standing in for a Xen event channel in the ring workload. The ring only
// decides *whether* to notify; these carry the notification and let the other end sleep.
//
// - Threads share a SharedArrayBuffer, so an event channel is one Int32 word per direction:
//   notify = increment + Atomics.notify, sleep = Atomics.wait while the word still holds the value
//   read before the final check (a notification in between changes it, so no wakeup is lost).
// - Processes share the ring through an mmap'd file, which koffi exposes as a plain ArrayBuffer:
//   Atomics.load/store work on it, Atomics.wait does not (it requires a SharedArrayBuffer). Rather
//   than polling with a backoff (which trades latency against burnt CPU on a 2-core machine), each
//   direction is an eventfd(2), the kernel object the design uses between the shim and xltsd and
//   the one KVM's irqfd/ioeventfd consume. notify = write(fd, 1); sleep = a blocking read(fd),
//   which returns at once if a notification arrived since the final check, since the counter
//   keeps it. A stale count only costs one spurious loop iteration.
import koffi from 'koffi';
import type { Notify, WaitChannel } from './workload.ts';

/** Index of each direction's word in the thread event-channel buffer. */
export const EVENT_WORD = { toBack: 0, toFront: 1 } as const;
export type EventDirection = keyof typeof EVENT_WORD;

/** The shared words for a pair of threads: pass the buffer to both. */
export function createEventWords(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * 2);
}

/** Wakes whoever sleeps on `direction`. */
export function atomicsNotify(buffer: SharedArrayBuffer, direction: EventDirection): Notify {
  const words = new Int32Array(buffer);
  const i = EVENT_WORD[direction];
  return () => {
    Atomics.add(words, i, 1);
    Atomics.notify(words, i, 1);
  };
}

/** Sleeps on `direction` until woken. */
export function atomicsWaitChannel(buffer: SharedArrayBuffer, direction: EventDirection): WaitChannel {
  const words = new Int32Array(buffer);
  const i = EVENT_WORD[direction];
  return {
    prepare: () => Atomics.load(words, i),
    wait: (token) => {
      Atomics.wait(words, i, token);
    },
  };
}

// libc entry points for eventfd. hypervisor/native/libc.ts is the project's libc module; these
// stay here because they serve only the benchmark and stress harness, and move there once the
// shim needs eventfd (irqfd/ioeventfd).
const libc = koffi.load('libc.so.6');
const eventfdCall = libc.func('int eventfd(unsigned int initval, int flags)');
const readCall = libc.func('long read(int fd, _Out_ uint8_t *buf, size_t count)');
const writeCall = libc.func('long write(int fd, const uint8_t *buf, size_t count)');
const closeCall = libc.func('int close(int fd)');
const errnoLocation = libc.func('int *__errno_location()');

const EINTR = 4;

/** An eventfd call failed. */
export class EventFdError extends Error {
  override readonly name = 'EventFdError';
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} on an eventfd failed: errno ${errno}`);
  }
}

function lastErrno(): number {
  return koffi.decode(errnoLocation(), 'int') as number;
}

/**
 * A new eventfd in blocking counter mode. Not close-on-exec: the benchmark hands it to its child
 * processes as an inherited descriptor.
 */
export function createEventFd(): number {
  const fd = eventfdCall(0, 0) as number;
  if (fd < 0) throw new EventFdError('eventfd', lastErrno());
  return fd;
}

export function closeEventFd(fd: number): void {
  closeCall(fd);
}

/** Adds 1 to the eventfd's counter, waking a reader. */
export function eventFdNotify(fd: number): Notify {
  const one = new Uint8Array(8);
  one[0] = 1;
  return () => {
    const n = writeCall(fd, one, 8) as number;
    if (n !== 8) throw new EventFdError('write', lastErrno());
  };
}

/** Sleeps in read(2) until the eventfd's counter is non-zero, then resets it. */
export function eventFdWaitChannel(fd: number): WaitChannel {
  const buf = new Uint8Array(8);
  return {
    prepare: () => 0,
    wait: () => {
      for (;;) {
        const n = readCall(fd, buf, 8) as number;
        if (n === 8) return;
        const errno = lastErrno();
        // A signal (e.g. the test runner's) may interrupt the sleep; that is not a notification.
        if (n < 0 && errno === EINTR) continue;
        throw new EventFdError('read', errno);
      }
    },
  };
}
