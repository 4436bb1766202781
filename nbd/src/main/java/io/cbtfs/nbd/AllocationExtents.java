package io.cbtfs.nbd;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code base:allocation} from the backing file's holes ({@code SEEK_DATA}/{@code SEEK_HOLE}): a
 * hole reads as zeroes ({@code NBD_STATE_HOLE | NBD_STATE_ZERO}); data is 0. Past the end of the
 * file (an image shrunk after the handshake) is a hole too: it reads as zeroes.
 */
final class AllocationExtents implements ExtentSource {
  private final ExportedImage image;

  AllocationExtents(ExportedImage image) {
    this.image = image;
  }

  @Override
  public List<Extent> extents(long byteOffset, long byteLength, int maxExtents) throws IOException {
    List<Extent> out = new ArrayList<>();
    long end = byteOffset + byteLength;
    long at = byteOffset;
    while (at < end && out.size() < maxExtents) {
      long data = image.nextData(at);
      long next;
      int flags;
      if (data < 0 || data > at) { // a hole from here
        next = data < 0 ? end : Math.min(data, end);
        flags = Nbd.STATE_HOLE | Nbd.STATE_ZERO;
      } else {
        next = Math.min(Math.max(image.nextHole(at), at + 1), end);
        flags = 0;
      }
      add(out, next - at, flags);
      at = next;
    }
    return out;
  }

  /** Appends, merging with the last extent when the flags are the same. */
  static void add(List<Extent> out, long byteLength, int flags) {
    int last = out.size() - 1;
    if (last >= 0 && out.get(last).flags() == flags) {
      out.set(last, new Extent(out.get(last).byteLength() + byteLength, flags));
    } else {
      out.add(new Extent(byteLength, flags));
    }
  }
}
