package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.roaringbitmap.RoaringBitmap;

/**
 * The records a target kept of an earlier failed attempt that a resumed sync may send as references
 * (docs/FORMAT.md, "Resume"): those of the attempt the tracker remembers for the target, lying in
 * what this sync sends and inside the image, none of whose blocks changed after that attempt's
 * drain (so they hold what the image holds at this sync's drain). Everything else is read and sent.
 */
final class ReusableRecords {
  private final KeptAttempt kept;
  private final TreeMap<Long, KeptAttempt.KeptRecord> byOffset;
  private final Map<KeptAttempt.KeptRecord, Integer> index;
  private final DirtySet blocks;

  private ReusableRecords(
      KeptAttempt kept,
      TreeMap<Long, KeptAttempt.KeptRecord> byOffset,
      Map<KeptAttempt.KeptRecord, Integer> index,
      DirtySet blocks) {
    this.kept = kept;
    this.byOffset = byOffset;
    this.index = index;
    this.blocks = blocks;
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
    TreeMap<Long, KeptAttempt.KeptRecord> byOffset = new TreeMap<>();
    Map<KeptAttempt.KeptRecord, Integer> index = new IdentityHashMap<>();
    RoaringBitmap reused = new RoaringBitmap();
    List<KeptAttempt.KeptRecord> records = kept.records();
    for (int i = 0; i < records.size(); i++) {
      KeptAttempt.KeptRecord k = records.get(i);
      if (k.byteOffset() % geometry.blockSize() != 0 || k.end() > imageSize) {
        continue;
      }
      long first = geometry.blockIndex(k.byteOffset());
      long end = first + geometry.blockCount(k.byteLength());
      boolean unchanged = true;
      for (long b = first; b < end && unchanged; b++) {
        unchanged = sent.contains(b) && !changed.contains(b);
      }
      if (unchanged) {
        byOffset.put(k.byteOffset(), k);
        index.put(k, i);
        reused.add(first, end);
      }
    }
    return byOffset.isEmpty()
        ? null
        : new ReusableRecords(kept, byOffset, index, DirtySet.of(geometry, reused));
  }

  KeptAttempt kept() {
    return kept;
  }

  /** The blocks the reused records cover: this sync does not read them. */
  DirtySet blocks() {
    return blocks;
  }

  /** The blocks of {@code sent} that the reused records do not cover: those this sync reads. */
  DirtySet notReused(DirtySet sent) {
    return DirtySet.of(sent.geometry(), RoaringBitmap.andNot(sent.toBitmap(), blocks.toBitmap()));
  }

  /** The first reusable record at or after {@code from} that ends by {@code to}; null if none. */
  KeptAttempt.KeptRecord next(long from, long to) {
    var e = byOffset.ceilingEntry(from);
    return e == null || e.getValue().end() > to ? null : e.getValue();
  }

  int indexOf(KeptAttempt.KeptRecord record) {
    return index.get(record);
  }
}
