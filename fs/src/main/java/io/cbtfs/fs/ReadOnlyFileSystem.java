package io.cbtfs.fs;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import jnr.ffi.Pointer;

/**
 * A read-only mount of {@link ServedFiles}: a flat folder of files mode 0444, owned by the mount's
 * user. Every operation that would change something fails with EROFS, except writes to a {@link
 * WritableFile} (mode 0644: a generation under an overlay), whose size still never changes (EPERM).
 * A read that fails because its source is damaged or unreachable is EIO for that read alone, with
 * its reason logged (by {@link FuseGuard}, one line).
 */
public final class ReadOnlyFileSystem implements FileSystemOperations {
  private static final int FILE_MODE = Posix.S_IFREG | 0444;
  private static final int WRITABLE_MODE = Posix.S_IFREG | 0644;
  private static final int ROOT_MODE = Posix.S_IFDIR | 0555;
  private static final int STATVFS_BYTES = 112;

  /** One READ's bytes (at most a worker's 1 MiB), per thread: no allocation per read. */
  private static final ThreadLocal<byte[]> READ_BUFFER = ThreadLocal.withInitial(() -> new byte[0]);

  /** One WRITE's bytes, per thread, for the same reason. */
  private static final ThreadLocal<byte[]> WRITE_BUFFER =
      ThreadLocal.withInitial(() -> new byte[0]);

  private record Handle(String name, ServedFile file) {}

  private final ServedFiles files;
  private final Posix posix;
  private final int uid;
  private final int gid;
  private final long mountedSeconds = System.currentTimeMillis() / 1000;
  private final ConcurrentHashMap<Long, Handle> open = new ConcurrentHashMap<>();
  private final AtomicLong nextHandle = new AtomicLong(1);

  /** Serves {@code files} as owned by {@code uid}:{@code gid}. */
  public ReadOnlyFileSystem(ServedFiles files, Posix posix, int uid, int gid) {
    this.files = files;
    this.posix = posix;
    this.uid = uid;
    this.gid = gid;
  }

  /** Handles open now. */
  public int openCount() {
    return open.size();
  }

  private static ErrnoException readOnly(String what) {
    return new ErrnoException(Posix.EROFS, "read-only mount: " + what + " refused");
  }

  private ServedFile file(String fusePath) throws IOException {
    if (fusePath.length() < 2 || fusePath.indexOf('/', 1) >= 0) {
      throw new ErrnoException(Posix.ENOENT, "no file at " + fusePath);
    }
    ServedFile f = files.file(fusePath.substring(1));
    if (f == null) {
      throw new ErrnoException(Posix.ENOENT, "no file at " + fusePath);
    }
    return f;
  }

  private Handle handle(long fh) throws ErrnoException {
    Handle h = open.get(fh);
    if (h == null) {
      throw new ErrnoException(Posix.EBADF, "handle " + fh + " is not open");
    }
    return h;
  }

  private void stat(ServedFile f, Pointer stat) {
    long size = f.byteSize();
    int mode = f instanceof WritableFile ? WRITABLE_MODE : FILE_MODE;
    posix.fillStat(stat, mode, 1, size, (size + 511) / 512, f.modifiedSeconds(), uid, gid);
  }

  private static ErrnoException sizeFixed(String name) {
    return new ErrnoException(Posix.EPERM, name + " keeps the size of its generation");
  }

  private static WritableFile writable(Handle h) throws ErrnoException {
    if (h.file() instanceof WritableFile w) {
      return w;
    }
    throw readOnly("write to " + h.name());
  }

  @Override
  public void getattr(String fusePath, Pointer stat) throws IOException {
    if (ImageFiles.isRoot(fusePath)) {
      posix.fillStat(stat, ROOT_MODE, 2, 0, 0, mountedSeconds, uid, gid);
      return;
    }
    stat(file(fusePath), stat);
  }

  @Override
  public void fgetattr(long fh, Pointer stat) throws IOException {
    stat(handle(fh).file(), stat);
  }

  @Override
  public List<String> readdir(String fusePath) throws IOException {
    if (!ImageFiles.isRoot(fusePath)) {
      throw new ErrnoException(Posix.ENOTDIR, "not a directory: " + fusePath);
    }
    return files.names();
  }

  @Override
  public long open(String fusePath, int flags) throws IOException {
    ServedFile f = file(fusePath);
    boolean writes = (flags & Posix.O_ACCMODE) != 0 || (flags & Posix.O_TRUNC) != 0;
    if (writes && !(f instanceof WritableFile)) {
      throw readOnly("open for writing " + fusePath);
    }
    if ((flags & Posix.O_TRUNC) != 0 && f.byteSize() != 0) {
      throw sizeFixed(fusePath.substring(1));
    }
    long fh = nextHandle.getAndIncrement();
    open.put(fh, new Handle(fusePath.substring(1), f));
    return fh;
  }

  @Override
  public long create(String fusePath, int mode, int flags) throws IOException {
    throw readOnly("create " + fusePath);
  }

  @Override
  public int read(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    Handle h = handle(fh);
    long size = h.file().byteSize();
    if (byteOffset < 0) {
      throw new ErrnoException(Posix.EINVAL, "read at " + byteOffset);
    }
    int n = (int) Math.max(0, Math.min(byteLength, size - byteOffset));
    if (n == 0) {
      return 0;
    }
    byte[] bytes = READ_BUFFER.get();
    if (bytes.length < n) {
      bytes = new byte[Math.max(n, 128 << 10)];
      READ_BUFFER.set(bytes);
    }
    try {
      h.file().read(byteOffset, bytes, n);
    } catch (ErrnoException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      // the source is damaged or out of reach: this read fails, the next may not
      throw new ErrnoException(
          Posix.EIO, h.name() + " bytes " + byteOffset + "+" + n + ": " + e.getMessage());
    }
    buf.put(0, bytes, 0, n);
    return n;
  }

  @Override
  public int write(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    Handle h = handle(fh);
    WritableFile w = writable(h);
    int n = (int) byteLength;
    byte[] bytes = WRITE_BUFFER.get();
    if (bytes.length < n) {
      bytes = new byte[Math.max(n, 128 << 10)];
      WRITE_BUFFER.set(bytes);
    }
    buf.get(0, bytes, 0, n);
    try {
      w.write(byteOffset, bytes, n);
    } catch (ErrnoException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      // the overlay's disk, or the generation a first write copies from, failed
      throw new ErrnoException(
          Posix.EIO, h.name() + " write " + byteOffset + "+" + n + ": " + e.getMessage());
    }
    return n;
  }

  @Override
  public int writeBack(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    return write(fh, buf, byteLength, byteOffset);
  }

  @Override
  public void truncate(String fusePath, long newSize) throws IOException {
    resize(fusePath.substring(1), file(fusePath), newSize);
  }

  @Override
  public void ftruncate(long fh, long newSize) throws IOException {
    Handle h = handle(fh);
    resize(h.name(), h.file(), newSize);
  }

  /** A truncate to the size it has already is harmless (tools do it); any other is refused. */
  private static void resize(String name, ServedFile f, long newSize) throws ErrnoException {
    if (!(f instanceof WritableFile)) {
      throw readOnly("truncate " + name);
    }
    if (newSize != f.byteSize()) {
      throw sizeFixed(name);
    }
  }

  @Override
  public void fallocate(long fh, int mode, long byteOffset, long byteLength) throws IOException {
    Handle h = handle(fh);
    writable(h);
    // callers (qemu's discard, write-zeroes) fall back to writing when it is not supported
    throw new ErrnoException(Posix.EOPNOTSUPP, h.name() + ": fallocate on an overlay");
  }

  @Override
  public long seek(long fh, long byteOffset, int whence) throws IOException {
    ServedFile f = handle(fh).file();
    if (whence != Posix.SEEK_DATA && whence != Posix.SEEK_HOLE) {
      throw new ErrnoException(Posix.EINVAL, "lseek whence " + whence);
    }
    if (byteOffset < 0 || byteOffset >= f.byteSize()) {
      throw new ErrnoException(Posix.ENXIO, "lseek at " + byteOffset + ": past the end");
    }
    long at = f.next(byteOffset, whence == Posix.SEEK_HOLE);
    if (whence == Posix.SEEK_DATA && at >= f.byteSize()) {
      throw new ErrnoException(Posix.ENXIO, "no data after " + byteOffset);
    }
    return Math.min(at, f.byteSize());
  }

  @Override
  public void fsync(long fh, boolean dataOnly) throws IOException {
    if (handle(fh).file() instanceof WritableFile w) {
      w.force();
    }
  }

  @Override
  public void release(long fh) throws IOException {
    open.remove(fh);
  }

  @Override
  public void statfs(Pointer statvfs) throws IOException {
    for (int i = 0; i < STATVFS_BYTES; i += 8) {
      statvfs.putLong(i, 0);
    }
    statvfs.putLong(0, 4096); // f_bsize
    statvfs.putLong(8, 4096); // f_frsize
    statvfs.putLong(80, 255); // f_namemax
  }

  @Override
  public void utimens(String fusePath, Pointer times) throws IOException {
    throw readOnly("utimens " + fusePath);
  }

  @Override
  public void chmod(String fusePath, long mode) throws IOException {
    throw readOnly("chmod " + fusePath);
  }

  @Override
  public void chown(String fusePath, long uid, long gid) throws IOException {
    throw readOnly("chown " + fusePath);
  }

  @Override
  public void rename(String fromFusePath, String toFusePath) throws IOException {
    throw readOnly("rename " + fromFusePath);
  }

  @Override
  public void unlink(String fusePath) throws IOException {
    throw readOnly("unlink " + fusePath);
  }
}
