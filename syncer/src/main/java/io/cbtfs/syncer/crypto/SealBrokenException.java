package io.cbtfs.syncer.crypto;

import io.cbtfs.tracker.CbtfsException;

/**
 * A sealed object or record that fails authentication: changed at rest or on the way, moved from
 * another place, or sealed under another key. Names the object.
 */
public final class SealBrokenException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  public SealBrokenException(String where) {
    super(where + ": fails authentication (tampered with, or not sealed with this key)");
  }
}
