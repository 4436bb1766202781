package io.cbtfs.fs.fuse;

import io.cbtfs.fs.FileSystemOperations;
import io.cbtfs.fs.FuseGuard;
import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.RequestObserver;
import java.util.concurrent.CountDownLatch;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import jnr.ffi.types.mode_t;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * The jnr-fuse file system: thin callbacks over {@link FileSystemOperations}. Every callback
 * unwraps its arguments and calls one handler method through {@link FuseGuard#call}, which maps
 * what it throws to a negated errno.
 *
 * <p>Callbacks not overridden here (mkdir, symlink, link, mknod, xattrs, locks) are left
 * unimplemented, so the kernel answers ENOSYS: the mount serves a flat set of image files.
 */
public final class CbtFuseFs extends FuseStubFS {
  private final FileSystemOperations fs;
  private final RequestObserver observer;
  private final CountDownLatch initialized = new CountDownLatch(1);

  public CbtFuseFs(FileSystemOperations fs) {
    this(fs, RequestObserver.NONE);
  }

  /** Tells {@code observer} of every callback answered, as the operation the kernel asked for. */
  public CbtFuseFs(FileSystemOperations fs, RequestObserver observer) {
    this.fs = fs;
    this.observer = observer;
  }

  /** {@link FuseGuard#call(String, String, FuseGuard.Operation)}, timed for the observer. */
  private int call(FuseOperation op, String name, String path, FuseGuard.Operation body) {
    long start = System.nanoTime();
    int result = FuseGuard.call(name, path, body);
    observer.answered(op, System.nanoTime() - start);
    return result;
  }

  /** {@link FuseGuard#call(String, String, FuseGuard.Action)}, timed for the observer. */
  private int call(FuseOperation op, String name, String path, FuseGuard.Action body) {
    long start = System.nanoTime();
    int result = FuseGuard.call(name, path, body);
    observer.answered(op, System.nanoTime() - start);
    return result;
  }

  /**
   * Runs libfuse's main loop on the calling thread until the file system is unmounted. Unlike
   * jnr-fuse's {@code mount}, it installs no shutdown hook (whose lazy unmount would race our
   * orderly one). Returns fuse_main's result: 0 after a normal unmount.
   */
  public int runLoop(String[] args) {
    return libFuse.fuse_main_real(
        args.length, args, fuseOperations, Struct.size(fuseOperations), null);
  }

  /** Counts down when the kernel connection is up and the mount serves requests. */
  public CountDownLatch initialized() {
    return initialized;
  }

  @Override
  public Pointer init(Pointer conn) {
    initialized.countDown();
    return null;
  }

  @Override
  public int getattr(String path, FileStat stat) {
    return call(
        FuseOperation.GETATTR, "getattr", path, () -> fs.getattr(path, Struct.getMemory(stat)));
  }

  @Override
  public int fgetattr(String path, FileStat stat, FuseFileInfo fi) {
    return call(
        FuseOperation.GETATTR,
        "fgetattr",
        path,
        () -> fs.fgetattr(fi.fh.get(), Struct.getMemory(stat)));
  }

  @Override
  public int readdir(
      String path, Pointer buf, FuseFillDir filler, @off_t long offset, FuseFileInfo fi) {
    return call(
        FuseOperation.READDIR,
        "readdir",
        path,
        () -> {
          filler.apply(buf, ".", null, 0);
          filler.apply(buf, "..", null, 0);
          for (String name : fs.readdir(path)) {
            filler.apply(buf, name, null, 0);
          }
          return 0;
        });
  }

  @Override
  public int open(String path, FuseFileInfo fi) {
    return call(FuseOperation.OPEN, "open", path, () -> fi.fh.set(fs.open(path, fi.flags.get())));
  }

  @Override
  public int create(String path, @mode_t long mode, FuseFileInfo fi) {
    return call(
        FuseOperation.CREATE,
        "create",
        path,
        () -> fi.fh.set(fs.create(path, (int) mode, fi.flags.get())));
  }

  @Override
  public int read(
      String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call(FuseOperation.READ, "read", path, () -> fs.read(fi.fh.get(), buf, size, offset));
  }

  @Override
  public int write(
      String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    return call(FuseOperation.WRITE, "write", path, () -> fs.write(fi.fh.get(), buf, size, offset));
  }

  @Override
  public int truncate(String path, @off_t long size) {
    return call(FuseOperation.SETATTR, "truncate", path, () -> fs.truncate(path, size));
  }

  @Override
  public int ftruncate(String path, @off_t long size, FuseFileInfo fi) {
    return call(FuseOperation.SETATTR, "ftruncate", path, () -> fs.ftruncate(fi.fh.get(), size));
  }

  @Override
  public int fallocate(
      String path, int mode, @off_t long off, @off_t long length, FuseFileInfo fi) {
    return call(
        FuseOperation.FALLOCATE,
        "fallocate",
        path,
        () -> fs.fallocate(fi.fh.get(), mode, off, length));
  }

  @Override
  public int flush(String path, FuseFileInfo fi) {
    return 0; // every write already reached the backing file; fsync is what makes it durable
  }

  @Override
  public int fsync(String path, int isdatasync, FuseFileInfo fi) {
    return call(FuseOperation.FSYNC, "fsync", path, () -> fs.fsync(fi.fh.get(), isdatasync != 0));
  }

  @Override
  public int release(String path, FuseFileInfo fi) {
    return call(FuseOperation.RELEASE, "release", path, () -> fs.release(fi.fh.get()));
  }

  @Override
  public int statfs(String path, Statvfs stbuf) {
    return call(FuseOperation.STATFS, "statfs", path, () -> fs.statfs(Struct.getMemory(stbuf)));
  }

  @Override
  public int utimens(String path, Timespec[] timespec) {
    return call(
        FuseOperation.SETATTR,
        "utimens",
        path,
        () -> fs.utimens(path, timespec == null ? null : Struct.getMemory(timespec[0])));
  }

  @Override
  public int chmod(String path, @mode_t long mode) {
    return call(FuseOperation.SETATTR, "chmod", path, () -> fs.chmod(path, mode));
  }

  @Override
  public int chown(String path, long uid, long gid) {
    return call(FuseOperation.SETATTR, "chown", path, () -> fs.chown(path, uid, gid));
  }

  @Override
  public int rename(String oldpath, String newpath) {
    return call(FuseOperation.RENAME, "rename", oldpath, () -> fs.rename(oldpath, newpath));
  }

  @Override
  public int unlink(String path) {
    return call(FuseOperation.UNLINK, "unlink", path, () -> fs.unlink(path));
  }
}
