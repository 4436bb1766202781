package io.cbtfs.fs.fuse;

import io.cbtfs.fs.ImageFileSystem;
import java.io.IOException;
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
 * The jnr-fuse file system: thin callbacks over {@link ImageFileSystem}. Every callback catches at
 * this one boundary and returns a negated errno through {@link FuseGuard}.
 *
 * <p>Callbacks not overridden here (mkdir, symlink, link, mknod, xattrs, locks) are left
 * unimplemented, so the kernel answers ENOSYS: the mount serves a flat set of image files.
 */
public final class CbtFuseFs extends FuseStubFS {
  private final ImageFileSystem fs;
  private final CountDownLatch initialized = new CountDownLatch(1);

  public CbtFuseFs(ImageFileSystem fs) {
    this.fs = fs;
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
    try {
      fs.getattr(path, Struct.getMemory(stat));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("getattr", path, e);
    }
  }

  @Override
  public int fgetattr(String path, FileStat stat, FuseFileInfo fi) {
    try {
      fs.fgetattr(fi.fh.get(), Struct.getMemory(stat));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("fgetattr", path, e);
    }
  }

  @Override
  public int readdir(
      String path, Pointer buf, FuseFillDir filler, @off_t long offset, FuseFileInfo fi) {
    try {
      filler.apply(buf, ".", null, 0);
      filler.apply(buf, "..", null, 0);
      for (String name : fs.readdir(path)) {
        filler.apply(buf, name, null, 0);
      }
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("readdir", path, e);
    }
  }

  @Override
  public int open(String path, FuseFileInfo fi) {
    try {
      fi.fh.set(fs.open(path, fi.flags.get()));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("open", path, e);
    }
  }

  @Override
  public int create(String path, @mode_t long mode, FuseFileInfo fi) {
    try {
      fi.fh.set(fs.create(path, (int) mode, fi.flags.get()));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("create", path, e);
    }
  }

  @Override
  public int read(
      String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    try {
      return fs.read(fi.fh.get(), buf, size, offset);
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("read", path, e);
    }
  }

  @Override
  public int write(
      String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
    try {
      return fs.write(fi.fh.get(), buf, size, offset);
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("write", path, e);
    }
  }

  @Override
  public int truncate(String path, @off_t long size) {
    try {
      fs.truncate(path, size);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("truncate", path, e);
    }
  }

  @Override
  public int ftruncate(String path, @off_t long size, FuseFileInfo fi) {
    try {
      fs.ftruncate(fi.fh.get(), size);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("ftruncate", path, e);
    }
  }

  @Override
  public int fallocate(
      String path, int mode, @off_t long off, @off_t long length, FuseFileInfo fi) {
    try {
      fs.fallocate(fi.fh.get(), mode, off, length);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("fallocate", path, e);
    }
  }

  @Override
  public int flush(String path, FuseFileInfo fi) {
    return 0; // every write already reached the backing file; fsync is what makes it durable
  }

  @Override
  public int fsync(String path, int isdatasync, FuseFileInfo fi) {
    try {
      fs.fsync(fi.fh.get(), isdatasync != 0);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("fsync", path, e);
    }
  }

  @Override
  public int release(String path, FuseFileInfo fi) {
    try {
      fs.release(fi.fh.get());
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("release", path, e);
    }
  }

  @Override
  public int statfs(String path, Statvfs stbuf) {
    try {
      fs.statfs(Struct.getMemory(stbuf));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("statfs", path, e);
    }
  }

  @Override
  public int utimens(String path, Timespec[] timespec) {
    try {
      fs.utimens(path, timespec == null ? null : Struct.getMemory(timespec[0]));
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("utimens", path, e);
    }
  }

  @Override
  public int chmod(String path, @mode_t long mode) {
    try {
      fs.chmod(path, mode);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("chmod", path, e);
    }
  }

  @Override
  public int chown(String path, long uid, long gid) {
    try {
      fs.chown(path, uid, gid);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("chown", path, e);
    }
  }

  @Override
  public int rename(String oldpath, String newpath) {
    try {
      fs.rename(oldpath, newpath);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("rename", oldpath, e);
    }
  }

  @Override
  public int unlink(String path) {
    try {
      fs.unlink(path);
      return 0;
    } catch (IOException | RuntimeException e) {
      return FuseGuard.errno("unlink", path, e);
    }
  }
}
