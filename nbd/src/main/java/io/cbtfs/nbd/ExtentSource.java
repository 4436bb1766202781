package io.cbtfs.nbd;

import java.io.IOException;
import java.util.List;

/** The extents of one meta context. */
interface ExtentSource {
  /**
   * The extents of {@code [byteOffset, byteOffset + byteLength)}, in order, at most {@code
   * maxExtents} of them: consecutive, each non-empty, together covering a prefix of the range (all
   * of it unless the cap cut it short) and never more.
   */
  List<Extent> extents(long byteOffset, long byteLength, int maxExtents) throws IOException;
}
