package io.cbtfs.fs;

import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operations of the mount in plain Java: what each FUSE callback does, given a path or an open
 * handle. Reads go straight to the backing descriptor; everything that changes bytes or size goes
 * through {@link TrackingWrites}. Failures are {@link IOException}s ({@link ErrnoException} with
 * the errno to return).
 */
public final class ImageFileSystem implements FileSystemOperations {
  private static final Logger log = LoggerFactory.getLogger(ImageFileSystem.class);
  private final ImageFiles files;
  private final TrackerStore trackers;
  private final OpenFiles openFiles = new OpenFiles();
  private final Posix posix;
  private final TrackingWrites writes;

  /**
   * Names change (rename, unlink: write lock) only while no open or path truncate is between
   * finding an image's tracking and using it (read lock): an open racing a rename must not get the
   * tracking of the file the rename replaced. Reads and writes of open handles never take it.
   */
  private final ReentrantReadWriteLock names = new ReentrantReadWriteLock();

  /** Set when the mount starts to stop: see {@link #refuseChanges}. */
  private volatile boolean changesRefused;

  public ImageFileSystem(ImageFiles files, TrackerStore trackers, Posix posix) {
    this(files, trackers, posix, WriteTracking.TRACKED);
  }

  /** With {@code tracking} on the write path instead of the real one (benchmarks). */
  public ImageFileSystem(
      ImageFiles files, TrackerStore trackers, Posix posix, WriteTracking tracking) {
    this.files = files;
    this.trackers = trackers;
    this.posix = posix;
    this.writes = new TrackingWrites(posix, tracking);
  }

  public ImageFiles files() {
    return files;
  }

  public TrackerStore trackers() {
    return trackers;
  }

  /**
   * From now on, every operation that would create, change, rename or remove an image fails with
   * EROFS: the mount is stopping, and whatever still reached the backing folder through it (a
   * process with its working directory in a lazily detached mount, say) would land after the
   * tracking stopped counting. Reads go on, and so does the writeback of pages the kernel already
   * acknowledged ({@link #writeBack}). An operation already past its check is tracked as usual.
   */
  public void refuseChanges() {
    changesRefused = true;
  }

  /** Open handles (images open through the mount). */
  public int openCount() {
    return openFiles.openCount();
  }

  /**
   * Waits until every image open through the mount is closed, or {@code deadlineNanos} passes.
   *
   * @return whether none is open
   */
  public boolean awaitNoOpenFiles(long deadlineNanos) throws InterruptedException {
    return openFiles.awaitNoneOpen(deadlineNanos);
  }

  /** The error of a change asked for after {@link #refuseChanges}. */
  private static ErrnoException refused(String change) {
    return new ErrnoException(Posix.EROFS, "the mount is stopping: " + change + " refused");
  }

  /** Fills {@code stat} for the root or an image; anything but a regular file is ENOENT. */
  @Override
  public void getattr(String fusePath, Pointer stat) throws IOException {
    if (ImageFiles.isRoot(fusePath)) {
      posix.lstat(files.backingDir().toString(), stat);
      return;
    }
    String path = files.backingFile(files.imageName(fusePath)).toString();
    posix.lstat(path, stat);
    if (!Posix.isRegular(posix.mode(stat))) {
      throw new ErrnoException(Posix.ENOENT, "not a regular file: " + path);
    }
  }

  @Override
  public void fgetattr(long fh, Pointer stat) throws IOException {
    posix.fstat(openFiles.get(fh).fd(), stat);
  }

  @Override
  public List<String> readdir(String fusePath) throws IOException {
    if (!ImageFiles.isRoot(fusePath)) {
      throw new ErrnoException(Posix.ENOTDIR, "not a directory: " + fusePath);
    }
    return files.list();
  }

  /** Opens an existing image; returns the handle number. */
  @Override
  public long open(String fusePath, int flags) throws IOException {
    if (changesRefused && changes(flags)) {
      throw refused("open for writing " + fusePath);
    }
    return openBacking(files.imageName(fusePath), flags & ~(Posix.O_CREAT | Posix.O_EXCL), 0);
  }

  /** Creates and opens a new image. */
  @Override
  public long create(String fusePath, int mode, int flags) throws IOException {
    if (changesRefused) {
      throw refused("create " + fusePath);
    }
    return openBacking(files.imageName(fusePath), flags | Posix.O_CREAT, mode);
  }

  private long openBacking(String imageName, int flags, int mode) throws IOException {
    names.readLock().lock();
    try {
      return openBackingLocked(imageName, flags, mode);
    } finally {
      names.readLock().unlock();
    }
  }

  private long openBackingLocked(String imageName, int flags, int mode) throws IOException {
    // O_APPEND would make pwrite ignore the kernel's offsets; O_DIRECT would demand aligned FUSE
    // buffers. The kernel already resolved both before sending us offsets.
    int backingFlags =
        (flags & ~(Posix.O_APPEND | Posix.O_DIRECT | Posix.O_TRUNC)) | Posix.O_NOFOLLOW;
    String path = files.backingFile(imageName).toString();
    int fd = posix.open(path, backingFlags, mode);
    try {
      Pointer stat = posix.allocateStat();
      posix.fstat(fd, stat);
      if (!Posix.isRegular(posix.mode(stat))) {
        throw new ErrnoException(Posix.ENOENT, "not a regular file: " + path);
      }
      if (changes(flags)) {
        requireOneName(imageName, stat);
      }
      TrackedImage image = trackers.image(imageName, () -> files.fingerprint(imageName));
      if ((flags & Posix.O_TRUNC) != 0) {
        writes.truncate(fd, imageName, image, posix.size(stat), 0); // the fstat above
      }
      return openFiles.add(new OpenImage(imageName, fd, image));
    } catch (Throwable e) {
      posix.libc().close(fd);
      throw e;
    }
  }

  /** Whether an open with {@code flags} may change the image: not read-only, or truncating. */
  private static boolean changes(int flags) {
    return (flags & Posix.O_ACCMODE) != 0 || (flags & Posix.O_TRUNC) != 0; // 0: O_RDONLY
  }

  /**
   * Refuses to change an image whose backing file has other names (hard links): changes are tracked
   * per name, so a write through one name would be missing from the syncs of another.
   */
  private void requireOneName(String imageName, Pointer stat) throws ErrnoException {
    long links = posix.nlink(stat);
    if (links > 1) {
      String why =
          "refused a change to "
              + imageName
              + ": its backing file has "
              + links
              + " names (hard links), and changes are tracked per name, so syncs of another"
              + " name would miss it; give each image its own file";
      log.warn(why);
      throw new ErrnoException(Posix.EMLINK, why);
    }
  }

  /** The tracking of the image open as handle {@code fh}. */
  public TrackedImage tracking(long fh) throws ErrnoException {
    return openFiles.get(fh).image();
  }

  /** Reads up to {@code byteLength} bytes; fewer only at the end of the file. */
  @Override
  public int read(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    OpenImage file = openFiles.get(fh);
    return (int) posix.preadFully(file.fd(), buf, byteLength, byteOffset, file.imageName());
  }

  @Override
  public int write(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    if (changesRefused) {
      throw refused("write to handle " + fh);
    }
    return writes.write(openFiles.get(fh), buf, byteLength, byteOffset);
  }

  /**
   * A write of pages the kernel's writeback cache already acknowledged to their writer: never
   * refused after {@link #refuseChanges} (the kernel would drop them, and the image lose a write
   * its writer saw succeed), tracked as every write is.
   */
  @Override
  public int writeBack(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException {
    return writes.write(openFiles.get(fh), buf, byteLength, byteOffset);
  }

  @Override
  public void truncate(String fusePath, long newSize) throws IOException {
    if (changesRefused) {
      throw refused("truncate " + fusePath);
    }
    String imageName = files.imageName(fusePath);
    names.readLock().lock();
    try {
      truncateLocked(imageName, newSize);
    } finally {
      names.readLock().unlock();
    }
  }

  private void truncateLocked(String imageName, long newSize) throws IOException {
    int fd =
        posix.open(files.backingFile(imageName).toString(), Posix.O_WRONLY | Posix.O_NOFOLLOW, 0);
    try {
      Pointer stat = posix.allocateStat();
      posix.fstat(fd, stat);
      requireOneName(imageName, stat);
      writes.truncate(
          fd, imageName, trackers.image(imageName, () -> files.fingerprint(imageName)), newSize);
    } finally {
      posix.close(fd);
    }
  }

  @Override
  public void ftruncate(long fh, long newSize) throws IOException {
    if (changesRefused) {
      throw refused("truncate handle " + fh);
    }
    OpenImage file = openFiles.get(fh);
    writes.truncate(file.fd(), file.imageName(), file.image(), newSize);
  }

  @Override
  public void fallocate(long fh, int mode, long byteOffset, long byteLength) throws IOException {
    if (changesRefused) {
      throw refused("fallocate handle " + fh);
    }
    writes.fallocate(openFiles.get(fh), mode, byteOffset, byteLength);
  }

  /**
   * lseek(2) on the backing file of an open image: SEEK_DATA and SEEK_HOLE find the image's
   * allocated ranges without reading it. Returns the new offset (ENXIO past the end).
   */
  @Override
  public long seek(long fh, long byteOffset, int whence) throws IOException {
    OpenImage file = openFiles.get(fh);
    return posix.check(
        posix.libc().lseek(file.fd(), byteOffset, whence), "lseek", file.imageName());
  }

  /** Makes the image's data durable on the backing file system. */
  @Override
  public void fsync(long fh, boolean dataOnly) throws IOException {
    OpenImage file = openFiles.get(fh);
    int rc = dataOnly ? posix.libc().fdatasync(file.fd()) : posix.libc().fsync(file.fd());
    posix.check(rc, dataOnly ? "fdatasync" : "fsync", file.imageName());
  }

  @Override
  public void release(long fh) throws IOException {
    OpenImage file = openFiles.remove(fh);
    posix.close(file.fd());
  }

  @Override
  public void statfs(Pointer statvfs) throws IOException {
    String dir = files.backingDir().toString();
    posix.check(posix.libc().statvfs(dir, statvfs), "statvfs", dir);
  }

  /** Sets access and modification times; {@code times} is a {@code struct timespec[2]} or null. */
  @Override
  public void utimens(String fusePath, Pointer times) throws IOException {
    if (changesRefused) {
      throw refused("utimens " + fusePath);
    }
    String path = backingPath(fusePath);
    posix.check(
        posix.libc().utimensat(Posix.AT_FDCWD, path, times, Posix.AT_SYMLINK_NOFOLLOW),
        "utimensat",
        path);
  }

  @Override
  public void chmod(String fusePath, long mode) throws IOException {
    if (changesRefused) {
      throw refused("chmod " + fusePath);
    }
    String path = backingPath(fusePath);
    posix.check(posix.libc().chmod(path, (int) mode), "chmod", path);
  }

  @Override
  public void chown(String fusePath, long uid, long gid) throws IOException {
    if (changesRefused) {
      throw refused("chown " + fusePath);
    }
    String path = backingPath(fusePath);
    posix.check(posix.libc().lchown(path, (int) uid, (int) gid), "chown", path);
  }

  /** Renames an image within the mount; its tracking moves with it. */
  @Override
  public void rename(String fromFusePath, String toFusePath) throws IOException {
    if (changesRefused) {
      throw refused("rename " + fromFusePath);
    }
    String from = files.imageName(fromFusePath);
    String to = files.imageName(toFusePath);
    String fromPath = files.backingFile(from).toString();
    names.writeLock().lock();
    try {
      posix.check(
          posix.libc().rename(fromPath, files.backingFile(to).toString()), "rename", fromPath);
      trackers.rename(from, to);
    } finally {
      names.writeLock().unlock();
    }
  }

  @Override
  public void unlink(String fusePath) throws IOException {
    if (changesRefused) {
      throw refused("unlink " + fusePath);
    }
    String name = files.imageName(fusePath);
    String path = files.backingFile(name).toString();
    names.writeLock().lock();
    try {
      posix.check(posix.libc().unlink(path), "unlink", path);
      trackers.remove(name);
    } finally {
      names.writeLock().unlock();
    }
  }

  private String backingPath(String fusePath) throws ErrnoException {
    return ImageFiles.isRoot(fusePath)
        ? files.backingDir().toString()
        : files.backingFile(files.imageName(fusePath)).toString();
  }

  /**
   * Closes every handle still open (the kernel has gone) and persists the tracking as clean,
   * recording each backing file's size.
   */
  public void closeAll() throws IOException {
    for (OpenImage file : openFiles.removeAll()) {
      posix.libc().close(file.fd());
    }
    Map<String, Fingerprint> fingerprints = new HashMap<>();
    for (String name : files.list()) {
      fingerprints.put(name, files.fingerprint(name));
    }
    trackers.closeClean(fingerprints);
  }
}
