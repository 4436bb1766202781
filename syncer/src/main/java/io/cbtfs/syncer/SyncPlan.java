package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one sync sends: the delta's header (full, or incremental from the generation the target
 * holds) and the blocks.
 *
 * <p>Full when the target is empty, behind the tracker or asked to ({@code forceFull}); a target
 * that holds another image is refused unless {@code forceFull}. An incremental sync sends the
 * drained blocks; after a change the dirty set cannot know ({@link TrackedImage#verifyNextSync}),
 * every block that differs from the target too. A target with a granule larger than a block (S3)
 * gets whole granules.
 *
 * @param compared whether the blocks are every block that may differ from the target (a full or a
 *     verified sync): its commit clears {@link TrackedImage#verifyNextSync}
 */
record SyncPlan(DeltaHeader header, DirtySet blocks, boolean compared) {
  private static final Logger log = LoggerFactory.getLogger(SyncPlan.class);

  /**
   * Plans the sync of {@code drain} from {@code image} to {@code target}, which holds {@code
   * state}.
   *
   * @throws io.cbtfs.tracker.CbtfsException if the target holds another image and not {@code
   *     forceFull}
   */
  static SyncPlan of(
      TrackedImage image,
      Drain drain,
      RecordPipeline reads,
      Target target,
      TargetState state,
      boolean forceFull)
      throws IOException {
    BlockGeometry geometry = image.tracker().geometry();
    long imageSize = reads.imageSize();
    long base = forceFull ? -1 : incrementalBase(state, image, drain, target);
    boolean full = base < 0;
    DeltaHeader header =
        new DeltaHeader(
            image.lineage(),
            imageSize,
            geometry.blockSize(),
            full ? 0 : base,
            drain.generation(),
            full);
    boolean verify = !full && image.verifyNextSync();
    DirtySet blocks = full ? DirtySet.allOf(geometry, imageSize) : drain.blocks().within(imageSize);
    if (verify) {
      DirtySet differing;
      try {
        differing = target.differing(reads.image(), imageSize, geometry, Long.MAX_VALUE);
      } catch (UnsupportedOperationException e) {
        differing = DirtySet.allOf(geometry, imageSize); // cannot compare: send every block
      }
      blocks = blocks.union(differing).within(imageSize);
    }
    if (target.granuleBytes() > geometry.blockSize()) {
      blocks =
          blocks.alignedTo((int) (target.granuleBytes() / geometry.blockSize())).within(imageSize);
    }
    return new SyncPlan(header, blocks, full || verify);
  }

  /**
   * The generation the target holds, if a delta of the drained blocks brings it up to date: any
   * generation from the committed one to the highest issued before this drain (a sync that failed
   * after its target had it merged its blocks back, so they are drained again); -1 if it needs
   * every block (empty, or at a generation this tracker cannot vouch for).
   */
  private static long incrementalBase(
      TargetState state, TrackedImage image, Drain drain, Target target) {
    if (!state.exists()) {
      return -1;
    }
    state.requireLineage(image.lineage(), target.describe(), target.otherImageAdvice());
    long committed = image.tracker().committedGeneration();
    long issued = drain.generation() - 1;
    long held = state.generation();
    if (held >= committed && held <= issued) {
      return held;
    }
    log.warn(
        "{} is at generation {}, the image at {} (highest issued {}): sending every block",
        target.describe(),
        held,
        committed,
        issued);
    return -1;
  }
}
