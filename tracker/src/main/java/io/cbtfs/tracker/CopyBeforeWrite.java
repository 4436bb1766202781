package io.cbtfs.tracker;

/**
 * What a point-in-time sync asks of its drain ({@link TrackedImage#beginSync(String, long,
 * CopyBeforeWrite)}): protect the blocks it will read, copying their old bytes to {@code saver}
 * before a write lands on them.
 *
 * @param granuleBlocks the target sends whole granules of this many blocks (1: single blocks), so
 *     whole granules are protected
 */
public record CopyBeforeWrite(BlockSaver saver, int granuleBlocks) {
  public CopyBeforeWrite {
    if (granuleBlocks < 1) {
      throw new IllegalArgumentException("granule of " + granuleBlocks + " blocks");
    }
  }
}
