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
   * The image file's size now, or -1 if it cannot be read: the size the sync sends. Called at the
   * drain's instant, while the writes wait at its gate, before {@link #protecting}: a growing write
   * still in flight may be in it, so the tracker protects every block up to it too (the tracker's
   * own idea of the size may lag such a write).
   */
  long imageBytesAtDrain();

  /**
   * The sync protects {@code blockCount} blocks: what a limit in percent is a share of. Called at
   * the drain's instant, while the writes wait at its gate (no I/O of image data here).
   */
  void protecting(long blockCount);

  /**
   * Copies the current bytes of block {@code blockIndex} aside, before a write changes them.
   *
   * @throws IOException if they could not be copied (the fleece is full or its disk failed): the
   *     snapshot breaks, the write goes on
   */
  void save(long blockIndex) throws IOException;
}
