package io.cbtfs.cli;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.ImageFileSystem;
import io.cbtfs.fs.Posix;
import io.cbtfs.nbd.ExportCatalog;
import io.cbtfs.nbd.ExportIoException;
import io.cbtfs.nbd.ExportedImage;
import io.cbtfs.nbd.PointInTimeBitmap;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The images of a mount as NBD exports: each session opens its image through the mount's own {@link
 * ImageFileSystem}, as a FUSE open does, so its writes, trims and flushes take the very path of
 * FUSE writes (the tracking's intent before the pwrite, the dirty bit after it) and are refused
 * once the mount stops. A read-only export opens the backing file read-only.
 */
final class MountExports implements ExportCatalog {
  private final ImageFileSystem fs;
  private final PullBackups backups;

  /**
   * @param backups the pull backups open, each an export {@code IMAGE@NAME} besides the images
   */
  MountExports(ImageFileSystem fs, PullBackups backups) {
    this.fs = fs;
    this.backups = backups;
  }

  @Override
  public List<String> names() throws IOException {
    List<String> names = new java.util.ArrayList<>(fs.files().list());
    names.addAll(backups.exportNames());
    return names;
  }

  /**
   * The image of that name, or the pull backup of that export name (a backup is looked up first: an
   * image may be named IMAGE@NAME too, and the operator asked for the backup by that name).
   */
  @Override
  public Optional<ExportedImage> open(String name, boolean writable) throws IOException {
    Optional<PullBackups.Open> backup = backups.open(name);
    if (backup.isPresent()) {
      Optional<ExportedImage> live = openImage(backup.get().image(), false);
      if (live.isEmpty()) {
        return Optional.empty();
      }
      return Optional.of(new FrozenExport(live.get(), backup.get().backup(), backup.get().name()));
    }
    return openImage(name, writable);
  }

  private Optional<ExportedImage> openImage(String name, boolean writable) throws IOException {
    if (name.indexOf('\0') >= 0) {
      return Optional.empty(); // a C string would end there and name another file
    }
    long fh;
    try {
      fh = fs.open("/" + name, writable ? Posix.O_RDWR : Posix.O_RDONLY);
    } catch (ErrnoException e) {
      if (e.errno() == Posix.ENOENT) {
        return Optional.empty();
      }
      throw mapped(e);
    }
    return Optional.of(new Handle(fh, fs.tracking(fh), writable));
  }

  /** An NBD error for a failed file system call: refused changes are EPERM, a full disk ENOSPC. */
  static IOException mapped(IOException e) {
    if (!(e instanceof ErrnoException errno)) {
      return e;
    }
    return switch (errno.errno()) {
      case Posix.EROFS, Posix.EPERM, Posix.EACCES ->
          new ExportIoException(ExportIoException.EPERM, e.getMessage(), e);
      case Posix.ENOSPC, Posix.EDQUOT, Posix.EFBIG ->
          new ExportIoException(ExportIoException.ENOSPC, e.getMessage(), e);
      default -> e;
    };
  }

  /** One open of an image by one session: a handle of the mount's handle table. */
  private final class Handle implements ExportedImage {
    private final long fh;
    private final TrackedImage tracking;
    private final boolean writable;
    private boolean closed;

    Handle(long fh, TrackedImage tracking, boolean writable) {
      this.fh = fh;
      this.tracking = tracking;
      this.writable = writable;
    }

    @Override
    public long size() throws IOException {
      try {
        return fs.seek(fh, 0, Posix.SEEK_END);
      } catch (IOException e) {
        throw mapped(e);
      }
    }

    @Override
    public int read(ByteBuffer dst, long byteOffset) throws IOException {
      try {
        return fs.read(fh, pointer(dst), dst.remaining(), byteOffset);
      } catch (IOException e) {
        throw mapped(e);
      }
    }

    @Override
    public void write(ByteBuffer src, long byteOffset) throws IOException {
      try {
        fs.write(fh, pointer(src), src.remaining(), byteOffset); // TrackingWrites, as FUSE
      } catch (IOException e) {
        throw mapped(e);
      }
    }

    @Override
    public void flush() throws IOException {
      try {
        fs.fsync(fh, true);
      } catch (IOException e) {
        throw mapped(e);
      }
    }

    @Override
    public void trim(long byteOffset, long byteLength) throws IOException {
      try {
        fs.fallocate(
            fh, Posix.FALLOC_FL_PUNCH_HOLE | Posix.FALLOC_FL_KEEP_SIZE, byteOffset, byteLength);
      } catch (IOException e) {
        throw mapped(e);
      }
    }

    @Override
    public long nextData(long byteOffset) throws IOException {
      return seek(byteOffset, Posix.SEEK_DATA, -1); // ENXIO: no data at or after the offset
    }

    @Override
    public long nextHole(long byteOffset) throws IOException {
      return seek(byteOffset, Posix.SEEK_HOLE, byteOffset); // ENXIO: past the end of the file
    }

    /** lseek(2) with {@code whence}; {@code atEnd} where lseek says ENXIO. */
    private long seek(long byteOffset, int whence, long atEnd) throws IOException {
      try {
        return fs.seek(fh, byteOffset, whence);
      } catch (ErrnoException e) {
        if (e.errno() == Posix.ENXIO) {
          return atEnd;
        }
        throw mapped(e);
      }
    }

    @Override
    public TrackedImage tracking() {
      return tracking;
    }

    @Override
    public boolean writable() {
      return writable;
    }

    @Override
    public Optional<PointInTimeBitmap> pointInTime() {
      return Optional.empty();
    }

    @Override
    public synchronized void close() throws IOException {
      if (!closed) {
        closed = true;
        fs.release(fh);
      }
    }
  }

  /** A pointer to {@code buffer}'s remaining bytes (direct memory: no copy). */
  private static Pointer pointer(ByteBuffer buffer) {
    if (!buffer.isDirect()) {
      throw new IllegalArgumentException("NBD buffers are direct");
    }
    return Pointer.wrap(Runtime.getSystemRuntime(), buffer.slice());
  }
}
