package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

class ReusableRecordsTest {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);

  /** The bytes of {@code sent} that a resumed sync reuses or reads. */
  private static long covered(KeptAttempt kept, ReusableRecords reuse, DirtySet sent, long size) {
    if (reuse == null) {
      return sent.byteCount(size);
    }
    long n = reuse.notReused().byteCount(size);
    for (int i : reuse.indexes()) {
      n += kept.records().get(i).byteLength();
    }
    return n;
  }

  /**
   * A kept record cut at an older, smaller end of the image (mid-block) is not reused once the
   * image has grown past it: it holds only part of its block, whose tail the sync must send
   * (mutant: only the image's end checked, and [100 KiB, 128 KiB) is neither read nor reused).
   */
  @Test
  void aRecordCutAtAnOlderImageEndIsNotReusedOnceTheImageGrew() {
    KeptAttempt kept = KeptAttempts.of(5, List.of(KeptAttempts.record(64 << 10, 36 << 10)));
    long imageSize = 192 << 10; // a write at [128 KiB, 192 KiB) grew it, marking block 2 only
    DirtySet sent = DirtySet.of(G, RoaringBitmap.bitmapOf(1, 2));
    DirtySet changed = DirtySet.of(G, RoaringBitmap.bitmapOf(2));
    ReusableRecords reuse =
        ReusableRecords.of(kept, new Drain.Attempt(5, changed), sent, imageSize);
    assertThat(covered(kept, reuse, sent, imageSize)).isEqualTo(sent.byteCount(imageSize));
    // at the same end of the image, the short last record is the whole last block: reused
    long sameSize = 100 << 10;
    ReusableRecords atEnd =
        ReusableRecords.of(
            kept, new Drain.Attempt(5, DirtySet.empty(G)), DirtySet.allOf(G, sameSize), sameSize);
    assertThat(atEnd.indexes()).containsExactly(0);
  }

  /**
   * Of kept records that overlap (a list no honest target sends), only the first is reused: the
   * sync never sends two records over one block (mutant: no overlap check, both reused).
   */
  @Test
  void overlappingKeptRecordsAreNotBothReused() {
    KeptAttempt kept =
        KeptAttempts.of(
            5,
            List.of(
                KeptAttempts.record(0, 2 * G.blockSize()),
                KeptAttempts.record(G.blockSize(), 2 * G.blockSize())));
    long size = 4L * G.blockSize();
    DirtySet all = DirtySet.allOf(G, size);
    ReusableRecords reuse =
        ReusableRecords.of(kept, new Drain.Attempt(5, DirtySet.empty(G)), all, size);
    assertThat(reuse.indexes()).containsExactly(0);
    assertThat(covered(kept, reuse, all, size)).isEqualTo(size);
  }
}
