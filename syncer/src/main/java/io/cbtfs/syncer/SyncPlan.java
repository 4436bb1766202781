package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.ToReadSet;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;

/**
 * What one sync sends: the delta's header (full, or incremental from the generation the target
 * holds) and the blocks.
 *
 * <p>Full when the target holds nothing or the caller asks ({@code forceFull}). Otherwise
 * incremental from the target's generation, with the blocks changed since it ({@link
 * Drain#blocks}); when the tracker cannot say what the target lacks ({@link Drain#mustCompare}: the
 * target is behind the history, at a generation never issued, or a change no dirty bit records
 * happened) every block that differs from the target too. A target with a granule larger than a
 * block (S3) gets whole granules.
 *
 * @param compared whether the blocks are every block that may differ from the target (a full or a
 *     verified sync)
 * @param why what decided the blocks, for the report
 */
record SyncPlan(DeltaHeader header, DirtySet blocks, boolean compared, String why) {
  /** Plans the sync of {@code drain} from {@code image} to {@code target}. */
  static SyncPlan of(TrackedImage image, Drain drain, RecordPipeline reads, Target target)
      throws IOException {
    BlockGeometry geometry = image.tracker().geometry();
    long imageSize = reads.imageSize();
    boolean full = drain.basis() == Drain.Basis.EMPTY;
    DeltaHeader header =
        new DeltaHeader(
            image.lineage(),
            imageSize,
            geometry.blockSize(),
            full ? 0 : drain.base(),
            drain.generation(),
            full);
    boolean verify = !full && drain.mustCompare();
    DirtySet blocks = full ? DirtySet.allOf(geometry, imageSize) : drain.blocks().within(imageSize);
    if (verify) {
      DirtySet differing;
      try {
        differing = Target.differing(target, reads.image(), imageSize, geometry, Long.MAX_VALUE);
      } catch (UnsupportedOperationException e) {
        differing = DirtySet.allOf(geometry, imageSize); // cannot compare: send every block
      }
      blocks = blocks.union(differing).within(imageSize);
    }
    ToReadSet toRead = drain.toRead();
    if (verify && toRead != null) {
      // a block written since the drain was compared as it is now: its old bytes may differ
      blocks = blocks.union(DirtySet.of(geometry, toRead.copiedBlocks())).within(imageSize);
    }
    if (target.granuleBytes() > geometry.blockSize()) {
      blocks =
          blocks.alignedTo((int) (target.granuleBytes() / geometry.blockSize())).within(imageSize);
    }
    if (toRead != null) {
      toRead.retainOnly(blocks); // writes to the blocks not sent need no copy any more
    }
    return new SyncPlan(header, blocks, full || verify, drain.why());
  }
}
