package io.cbtfs.nbd;

import io.cbtfs.tracker.TrackedImage;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * One image opened for one NBD session. Writes, trims and flushes go through the same path as the
 * mount's own (the tracking's {@code beforeWrite}/{@code afterWrite}): a block written over NBD is
 * dirty exactly as one written through FUSE. Failures are {@link IOException}s; an {@link
 * ExportIoException} names the NBD error to answer (otherwise {@code NBD_EIO}).
 */
public interface ExportedImage extends Closeable {
  /** The image's size now. */
  long size() throws IOException;

  /**
   * Reads {@code dst.remaining()} bytes at {@code byteOffset} into {@code dst} (direct); fewer only
   * at the end of the file.
   *
   * @return the bytes read
   */
  int read(ByteBuffer dst, long byteOffset) throws IOException;

  /** Writes all of {@code src}'s remaining bytes (direct) at {@code byteOffset}, tracked. */
  void write(ByteBuffer src, long byteOffset) throws IOException;

  /** Makes what was written durable on the backing file. */
  void flush() throws IOException;

  /** Punches a hole (the size kept), tracked as a write of the range. */
  void trim(long byteOffset, long byteLength) throws IOException;

  /** The first offset at or after {@code byteOffset} that holds data; -1 if none (SEEK_DATA). */
  long nextData(long byteOffset) throws IOException;

  /** The first hole at or after {@code byteOffset}; the end of the file if none (SEEK_HOLE). */
  long nextHole(long byteOffset) throws IOException;

  /** The image's tracking: its dirty set and its targets' cursors. */
  TrackedImage tracking();

  /** Whether this open takes writes, trims and flushes (never a point-in-time export's). */
  boolean writable();

  /**
   * A point-in-time export's dirty bitmap, fixed at its drain (its extents and reads are the
   * image's at that instant too); empty for a live export, whose contexts follow the tracking.
   *
   * @throws IOException (ESHUTDOWN) once a point-in-time export is withdrawn
   */
  Optional<PointInTimeBitmap> pointInTime() throws IOException;
}
