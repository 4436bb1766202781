package io.cbtfs.tracker;

import java.io.IOException;

/**
 * A point-in-time sync's snapshot broke: a write had to overwrite a block the sync had not read and
 * its old bytes could not be copied aside (the fleece was full, or its disk failed). The write went
 * on; the sync fails and its blocks stay dirty.
 */
public final class SnapshotBrokenException extends IOException {
  private final String reason;

  public SnapshotBrokenException(String reason, Throwable cause) {
    super(
        "the point-in-time snapshot broke ("
            + reason
            + "): the sync is abandoned and its blocks stay dirty for the next one (retry, raise"
            + " --fleece-limit, or sync with --no-snapshot)",
        cause);
    this.reason = reason;
  }

  /** Why it broke ("the fleece is full: ..."), without the advice for a sync. */
  public String reason() {
    return reason;
  }
}
