// How XenStore requests fail. Inside the engine a refused request is a XenstoreError carrying
// one of the xsd_errors names; the dispatcher turns it into an XS_ERROR reply whose payload is
// that name, and nowhere else. Failures of a connection itself (a frame the peer should never
// have sent, a ring whose indices cannot be true) are separate classes: they end the connection
// instead of producing a reply.

import { XSD_ERRORS, type XsdErrorName } from '../../ring-buffer/xs-wire.ts';

export { XSD_ERRORS, type XsdErrorName };

/** A request the store refuses; the client sees `name` in an XS_ERROR reply. */
export class XenstoreError extends Error {
  override readonly name = 'XenstoreError';
  constructor(
    readonly xsdError: XsdErrorName,
    readonly detail: string,
  ) {
    super(`${xsdError}: ${detail}`);
  }
}

/**
 * The peer sent a frame no correct client sends (payload longer than XENSTORE_PAYLOAD_MAX).
 * Fatal for that connection: the byte stream can no longer be trusted to be framed.
 */
export class XenstoreProtocolError extends Error {
  override readonly name = 'XenstoreProtocolError';
}

/** Operation on a connection or ring server after it was closed or latched its fatal error. */
export class XenstoreClosedError extends Error {
  override readonly name = 'XenstoreClosedError';
}
