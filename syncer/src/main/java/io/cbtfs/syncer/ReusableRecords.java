package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import java.util.ArrayList;
import java.util.List;
import org.roaringbitmap.RoaringBitmap;

/**
 * The records a target kept of an earlier failed attempt that a resumed sync may send as references
 * (docs/FORMAT.md, "Resume"): those of the attempt the tracker remembers for the target, lying in
 * what this sync sends and inside the image, none of whose blocks changed after that attempt's
 * drain (so they hold what the image holds at this sync's drain). Everything else is read and sent.
 */
final class ReusableRecords {
  private final KeptAttempt kept;

  /** The indexes in {@code kept.records()} of the reusable records, ascending and apart. */
  private final int[] reusable;

  private final DirtySet notReused;

  private ReusableRecords(KeptAttempt kept, int[] reusable, DirtySet notReused) {
    this.kept = kept;
    this.reusable = reusable;
    this.notReused = notReused;
  }

  /**
   * The kept records of {@code kept} this sync may reuse, or null when none: the target kept
   * nothing, or an attempt other than the one the tracker knows ({@code attempt}, null when it
   * knows none or cannot say what changed since).
   *
   * @param sent the blocks this sync sends
   * @param imageSize the image's size at this sync's drain
   */
  static ReusableRecords of(
      KeptAttempt kept, Drain.Attempt attempt, DirtySet sent, long imageSize) {
    if (kept == null || attempt == null || kept.generation() != attempt.generation()) {
      return null;
    }
    DirtySet changed = attempt.changedSince();
    BlockGeometry geometry = sent.geometry();
    List<Integer> reusable = new ArrayList<>();
    RoaringBitmap reused = new RoaringBitmap();
    long reusedEnd = 0; // a record overlapping one taken (a hostile list) is not
    List<KeptAttempt.KeptRecord> records = kept.records();
    for (int i = 0; i < records.size(); i++) {
      KeptAttempt.KeptRecord k = records.get(i);
      // a record of part of a block is the image's short last block, at this sync's end of the
      // image, or it would leave the rest of its block unsent (cut at an older, smaller end)
      boolean wholeBlocks =
          k.byteLength() > 0
              && (k.byteLength() % geometry.blockSize() == 0 || k.end() == imageSize);
      if (k.byteOffset() % geometry.blockSize() != 0
          || !wholeBlocks
          || k.end() > imageSize
          || k.byteOffset() < reusedEnd) {
        continue;
      }
      long first = geometry.blockIndex(k.byteOffset());
      long end = first + geometry.blockCount(k.byteLength());
      boolean unchanged = true;
      for (long b = first; b < end && unchanged; b++) {
        unchanged = sent.contains(b) && !changed.contains(b);
      }
      if (unchanged) {
        reusable.add(i);
        reused.add(first, end);
        reusedEnd = k.end();
      }
    }
    return reusable.isEmpty()
        ? null
        : new ReusableRecords(
            kept,
            reusable.stream().mapToInt(Integer::intValue).toArray(),
            DirtySet.of(geometry, RoaringBitmap.andNot(sent.toBitmap(), reused)));
  }

  KeptAttempt kept() {
    return kept;
  }

  /**
   * The blocks this sync sends that the reused records do not cover: those it reads, and the only
   * ones a point-in-time sync still protects from writes ({@link RecordPipeline#ship} reuses every
   * record of {@link #indexes}, whatever the runs around it).
   */
  DirtySet notReused() {
    return notReused;
  }

  /** The indexes in {@code kept().records()} of the records this sync reuses, ascending. */
  int[] indexes() {
    return reusable.clone();
  }
}
