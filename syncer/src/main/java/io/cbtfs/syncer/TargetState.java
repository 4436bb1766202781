package io.cbtfs.syncer;

import io.cbtfs.tracker.CbtfsException;
import java.util.UUID;

/**
 * What a target holds: nothing yet, or a generation of one image lineage.
 *
 * @param lineage the image lineage (null when empty)
 * @param generation the last generation applied (0 when empty)
 */
public record TargetState(boolean exists, UUID lineage, long generation, long imageSize) {
  public static final TargetState EMPTY = new TargetState(false, null, 0, 0);

  /** What a target holds once it has applied {@code delta}. */
  public static TargetState of(DeltaHeader delta) {
    return new TargetState(true, delta.lineage(), delta.generation(), delta.imageSize());
  }

  /**
   * Refuses an image other than the one this target holds.
   *
   * @throws CbtfsException naming both lineages and how to overwrite
   */
  public void requireLineage(UUID image, String target) {
    requireLineage(image, target, Target.OVERWRITE_ADVICE);
  }

  /** As {@link #requireLineage(UUID, String)}, with the target's own {@code advice}. */
  public void requireLineage(UUID image, String target, String advice) {
    if (exists && !lineage.equals(image)) {
      throw new CbtfsException(
          target
              + " holds another image (lineage "
              + lineage
              + ", generation "
              + generation
              + "), not "
              + image
              + ": refusing ("
              + advice
              + ")");
    }
  }

  /**
   * Refuses a delta this target must not apply: an incremental one to an empty target, one from
   * another image (unless {@code allowNewLineage} for an explicit full overwrite), or one out of
   * order. Applying the generation the target already holds again (base one below) is allowed: a
   * source that crashed between the target's acknowledgement and its own commit sends it again.
   *
   * @throws CbtfsException naming what the target holds and what the delta is
   */
  public void check(DeltaHeader h, String target, boolean allowNewLineage) {
    if (!exists) {
      if (!h.full()) {
        throw new CbtfsException(target + " is empty: it needs a full sync first");
      }
      return;
    }
    if (!lineage.equals(h.lineage())) {
      if (h.full() && allowNewLineage) {
        return;
      }
      requireLineage(h.lineage(), target);
    }
    if (h.full()
        || h.baseGeneration() == generation
        || (h.generation() == generation && h.baseGeneration() == generation - 1)) {
      return;
    }
    throw new CbtfsException(
        target
            + " is at generation "
            + generation
            + " but the delta is "
            + h.describe()
            + ": out of order");
  }
}
