package io.cbtfs.syncer.remote;

import java.io.IOException;

/**
 * A write the peer took nothing of within its deadline ({@link WriteDeadline}): its message names
 * the peer and the time already, so callers pass it on as it is.
 */
final class StalledWriteException extends IOException {
  private static final long serialVersionUID = 1L;

  StalledWriteException(String message, IOException cause) {
    super(message, cause);
  }
}
