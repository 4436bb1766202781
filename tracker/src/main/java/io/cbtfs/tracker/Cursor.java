package io.cbtfs.tracker;

import java.time.Instant;

/**
 * Where one target of an image stands: the generation it last acknowledged and when. Named by the
 * target's canonical URI. A cursor only decides how much history the tracker keeps (and what {@code
 * status} shows): what a sync sends is decided by the generation the target itself reports.
 */
public record Cursor(String target, long generation, Instant syncedAt) {
  public Cursor {
    if (target == null
        || target.isEmpty()
        || target.getBytes(java.nio.charset.StandardCharsets.UTF_8).length
            > TrackerState.MAX_TARGET_BYTES
        || generation < 0
        || syncedAt == null) {
      throw new IllegalArgumentException("bad cursor " + target + " at " + generation);
    }
  }
}
