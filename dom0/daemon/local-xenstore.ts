// xltsd's own XenStore client: the frontends' XenstoreClient, talking to the engine in this very
// process through a privileged dom0 connection instead of a socket. Replies are handed back on a
// microtask, so the client never sees its answer while it is still inside its own write().
import { XenstoreClient } from '../../frontends/xenbus/index.ts';
import { XsConnection, XsFrameDecoder, type XenstoreEngine } from '../xenstore/index.ts';

export interface LocalXenstore {
  readonly client: XenstoreClient;
  /** The privileged dom0 session, for requests the client has no method for (INTRODUCE). */
  readonly session: XsConnection;
}

export function localXenstore(engine: XenstoreEngine, log: (line: string) => void = () => undefined): LocalXenstore {
  let deliver: (bytes: Uint8Array) => void = () => undefined;
  const connection = new XsConnection(engine, { domid: 0, privileged: true }, (bytes, reply) => {
    queueMicrotask(() => {
      deliver(bytes);
      if (reply) connection.replyDelivered();
    });
  });
  const decoder = new XsFrameDecoder((frame) => connection.handleFrame(frame));
  const client = new XenstoreClient({
    write: (bytes) => decoder.push(bytes),
    onData: (cb) => {
      deliver = cb;
    },
    onClose: () => undefined,
    close: () => connection.close(),
  }, {
    // A throwing watch callback in the daemon must not take it down.
    onWatchError: (err, path) => log(`xenstore watch on ${path} failed: ${err instanceof Error ? err.message : String(err)}`),
  });
  return { client, session: connection };
}
