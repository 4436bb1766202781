package io.cbtfs.nbd;

import io.cbtfs.tracker.BlockGeometry;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongPredicate;

/**
 * A {@code qemu:dirty-bitmap:*} context from a set of dirty blocks: a byte is dirty ({@code
 * NBD_STATE_DIRTY}) if its block is. Extents follow the tracking's block boundaries, cut to the
 * asked range.
 */
final class DirtyExtents implements ExtentSource {
  private final BlockGeometry geometry;
  private final LongPredicate dirtyBlock;

  /**
   * @param dirtyBlock whether a block index is dirty (read at each request, so the answer is the
   *     tracking's state then)
   */
  DirtyExtents(BlockGeometry geometry, LongPredicate dirtyBlock) {
    this.geometry = geometry;
    this.dirtyBlock = dirtyBlock;
  }

  @Override
  public List<Extent> extents(long byteOffset, long byteLength, int maxExtents) {
    List<Extent> out = new ArrayList<>();
    long end = byteOffset + byteLength;
    long runStart = byteOffset;
    int runFlags = -1;
    long at = byteOffset;
    while (at < end) {
      long block = geometry.blockIndex(at);
      int flags = dirtyBlock.test(block) ? Nbd.STATE_DIRTY : 0;
      if (flags != runFlags) {
        if (runFlags >= 0) {
          out.add(new Extent(at - runStart, runFlags));
          if (out.size() == maxExtents) {
            return out;
          }
        }
        runStart = at;
        runFlags = flags;
      }
      at = Math.min(geometry.byteOffset(block + 1), end);
    }
    if (runFlags >= 0) {
      out.add(new Extent(end - runStart, runFlags));
    }
    return out;
  }
}
