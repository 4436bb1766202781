package io.cbtfs.nbd;

import java.io.IOException;

/**
 * A client broke the protocol's framing (a wrong magic number, an option too long to read, the
 * connection ending part way): the session ends, and nothing else is affected.
 */
public class NbdProtocolException extends IOException {
  private static final long serialVersionUID = 1L;

  public NbdProtocolException(String message) {
    super(message);
  }
}
