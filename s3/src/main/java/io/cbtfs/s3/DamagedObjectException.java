package io.cbtfs.s3;

import io.cbtfs.tracker.CbtfsException;

/** An object of the store that fails a check: missing, truncated, or not what its name says. */
public final class DamagedObjectException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  public DamagedObjectException(String where, String problem) {
    super(where + ": " + problem);
  }
}
