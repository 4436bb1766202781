package io.cbtfs.cli;

import io.cbtfs.nbd.ExportIoException;
import io.cbtfs.nbd.ExportedImage;
import io.cbtfs.nbd.PointInTimeBitmap;
import io.cbtfs.syncer.PullBackup;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * A pull backup's NBD export: the image read through one session's read-only open of it, with the
 * blocks written since the drain laid over from the fleece ({@link PullBackup#overlay}). Its size
 * and holes are the drain's; its dirty bitmap is fixed. Once the backup ends, every request is
 * answered ESHUTDOWN; once its view broke, reads fail (EIO), never with newer bytes.
 */
final class FrozenExport implements ExportedImage {
  private final ExportedImage live;
  private final PullBackup backup;
  private final String bitmapName;

  /**
   * @param live a read-only open of the image, closed with this
   * @param bitmapName the consumer's name for the dirty bitmap (the backup's name)
   */
  FrozenExport(ExportedImage live, PullBackup backup, String bitmapName) {
    this.live = live;
    this.backup = backup;
    this.bitmapName = bitmapName;
  }

  @Override
  public long size() throws IOException {
    readable();
    return backup.size();
  }

  /** Reads the image, then the copied blocks over it: the whole range (zeros past a shrunk end). */
  @Override
  public int read(ByteBuffer dst, long byteOffset) throws IOException {
    readable();
    ByteBuffer view = dst.slice(); // position 0 to the length asked: what the overlay covers
    int length = view.remaining();
    int n = Math.max(0, live.read(view.duplicate(), byteOffset));
    for (int i = n; i < length; i++) {
      view.put(i, (byte) 0);
    }
    try {
      backup.overlay(view, byteOffset);
    } catch (PullBackup.EndedException e) {
      throw withdrawn(e);
    }
    return length;
  }

  @Override
  public void write(ByteBuffer src, long byteOffset) throws IOException {
    throw readOnly();
  }

  @Override
  public void flush() throws IOException {
    throw readOnly();
  }

  @Override
  public void trim(long byteOffset, long byteLength) throws IOException {
    throw readOnly();
  }

  /**
   * The image's next data, or a block written since the drain (its old bytes may be data): the
   * lookup first, the copied bits after, as a read.
   */
  @Override
  public long nextData(long byteOffset) throws IOException {
    readable();
    long data = live.nextData(byteOffset);
    long limit = data < 0 ? backup.size() : Math.min(data, backup.size());
    BlockGeometry g = backup.geometry();
    long copied = backup.nextCopied(g.blockIndex(byteOffset), g.blockCount(limit));
    if (copied >= 0) {
      data = Math.max(byteOffset, g.byteOffset(copied));
    }
    readable();
    return data;
  }

  /** The first offset that is a hole of the image and in no block written since the drain. */
  @Override
  public long nextHole(long byteOffset) throws IOException {
    readable();
    BlockGeometry g = backup.geometry();
    long at = byteOffset;
    while (at < backup.size()) {
      long b = g.blockIndex(at);
      if (backup.copied(b)) {
        at = g.byteOffset(b + 1);
        continue;
      }
      long hole = live.nextHole(at);
      if (hole <= at) {
        break;
      }
      at = hole;
    }
    readable();
    return at;
  }

  @Override
  public TrackedImage tracking() {
    return live.tracking();
  }

  @Override
  public boolean writable() {
    return false;
  }

  @Override
  public Optional<PointInTimeBitmap> pointInTime() throws IOException {
    if (!backup.isOpen()) {
      throw withdrawn(null);
    }
    return Optional.of(new PointInTimeBitmap(bitmapName, backup.lacking()));
  }

  /** Ended: ESHUTDOWN; broken: an I/O error (EIO) that says why. */
  private void readable() throws IOException {
    try {
      backup.requireReadable();
    } catch (PullBackup.EndedException e) {
      throw withdrawn(e);
    }
  }

  private static ExportIoException withdrawn(Exception cause) {
    return new ExportIoException(
        ExportIoException.ESHUTDOWN, "the backup ended: its export is withdrawn", cause);
  }

  private static ExportIoException readOnly() {
    return new ExportIoException(ExportIoException.EPERM, "a backup's export is read-only", null);
  }

  @Override
  public void close() throws IOException {
    live.close();
  }
}
