// What blkback is given (it imports no daemon, no hypervisor): the Dom0 grant mapper for the
// guest's pages, the event channel to the frontend, a xenstore client, and the storage.
// xltsd provides the real ones (dom0/grants, a port bound over the shim link, its own xenstore
// client, a raw image file); the specs provide fakes.

export type GrantAccess = 'read' | 'write';

/** One granted page, mapped for the backend until unmap(). */
export interface GrantMapping {
  readonly bytes: Uint8Array;
  unmap(): void;
  /**
   * Whether the guest's entry still grants this page as it was mapped (same frame, writable if
   * mapped for writing). Asked before each reuse of a mapping kept across requests.
   */
  stillGranted(): boolean;
}

/** 'write' means the backend writes into the page (a read request, the shared ring). */
export interface GrantMapper {
  /** Throws when the guest's grant entry does not allow it. */
  map(ref: number, access: GrantAccess): GrantMapping;
}

export interface EventChannel {
  notify(): void;
  close(): void;
}

/** Binds the frontend's port (left unbound for Dom0); `onEvent` runs on every notification. */
export type BindEventChannel = (frontendPort: number, onEvent: () => void) => Promise<EventChannel>;

/** The xenstore operations blkback uses (a subset of frontends/xenbus's XenstoreClient). */
export interface XenstoreAccess {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
  watch(path: string, token: string, cb: (path: string, token: string) => void): Promise<void>;
  unwatch(path: string, token: string): Promise<void>;
  uniqueToken(prefix?: string): string;
}

/** A virtual disk's contents: byte offsets and lengths are multiples of 512. */
export interface BlockStorage {
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, dest: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  /** Optional: several buffers at consecutive offsets in one system call (a request's segments). */
  readv?(offset: number, dests: readonly Uint8Array[]): void;
  writev?(offset: number, srcs: readonly Uint8Array[]): void;
  /** Durable on the host before it returns (fdatasync). */
  flush(): void;
  /** Frees the range (reads return zeros afterwards); false when the storage cannot. */
  discard(offset: number, length: number): boolean;
  close(): void;
}
