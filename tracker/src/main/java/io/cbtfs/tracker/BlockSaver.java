package io.cbtfs.tracker;

import java.io.IOException;

/**
 * Where a point-in-time sync's {@link ToReadSet} copies a block's old bytes before a write
 * overwrites them: the fleece (the syncer's; the tracker does no I/O of image data).
 *
 * <p>Thread safety: called by many writers at once, never twice for one block.
 */
public interface BlockSaver {
  /**
   * The sync protects {@code blockCount} blocks: what a limit in percent is a share of. Called at
   * the drain's instant, while the writes wait at its gate (no I/O of image data here).
   *
   * @param imageBytes the image's size as the tracker knows it at the drain: every write that grew
   *     the image and returned is in it, one still in flight may not be (its blocks past this size
   *     are not protected, so what the sync sends must end here at most)
   */
  void protecting(long blockCount, long imageBytes);

  /**
   * Copies the current bytes of block {@code blockIndex} aside, before a write changes them.
   *
   * @throws IOException if they could not be copied (the fleece is full or its disk failed): the
   *     snapshot breaks, the write goes on
   */
  void save(long blockIndex) throws IOException;
}
