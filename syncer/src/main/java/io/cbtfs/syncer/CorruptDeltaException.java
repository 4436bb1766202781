package io.cbtfs.syncer;

import io.cbtfs.tracker.CbtfsException;

/** A delta that fails a check: truncated, corrupted, or not meant for this target. */
public final class CorruptDeltaException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  public CorruptDeltaException(String source, String problem) {
    super("delta " + source + " rejected: " + problem);
  }
}
