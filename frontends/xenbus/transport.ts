// The byte stream a XenstoreClient speaks xsd_sockmsg frames over. The same client runs over a
// guest's store ring (ring-transport.ts) and over xenstored's unix socket (socket-transport.ts);
// neither the client nor the frames know which.

export interface XenstoreTransport {
  /**
   * Queues bytes for the server and returns at once. A transport with no room (a full ring) keeps
   * them and sends them when the server makes room: the caller never waits and never retries.
   */
  write(bytes: Uint8Array): void;
  /** Sets the one receiver of the bytes the server sends, in order, in chunks of any size. */
  onData(cb: (bytes: Uint8Array) => void): void;
  /**
   * Sets the one receiver of the stream's end: null for an orderly close, else why it ended (a
   * socket error, a server lying about ring indices). Called at most once.
   */
  onClose(cb: (error: Error | null) => void): void;
  /** Stops the stream; bytes still queued are dropped. The close callback is not called. */
  close(): void;
}
