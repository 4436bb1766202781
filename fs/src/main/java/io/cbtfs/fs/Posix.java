package io.cbtfs.fs;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Checked wrappers over {@link LibC}: each returns the result or throws an {@link ErrnoException}
 * naming the call and its errno. Linux only (x86_64 and aarch64 layouts of {@code struct stat}).
 */
public final class Posix {
  public static final int O_RDONLY = 0;
  public static final int O_WRONLY = 1;
  public static final int O_RDWR = 2;
  public static final int O_CREAT = 0100;
  public static final int O_EXCL = 0200;
  public static final int O_TRUNC = 01000;
  public static final int O_APPEND = 02000;
  public static final int O_DIRECT = 040000;
  public static final int O_NOFOLLOW = 0400000;
  public static final int O_CLOEXEC = 02000000;
  public static final int O_ACCMODE = 3;

  public static final int LOCK_EX = 2;
  public static final int LOCK_NB = 4;

  public static final int FALLOC_FL_KEEP_SIZE = 0x01;
  public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
  public static final int FALLOC_FL_COLLAPSE_RANGE = 0x08;
  public static final int FALLOC_FL_INSERT_RANGE = 0x20;

  public static final int SEEK_END = 2;
  public static final int SEEK_DATA = 3;
  public static final int SEEK_HOLE = 4;

  public static final int AT_FDCWD = -100;
  public static final int AT_SYMLINK_NOFOLLOW = 0x100;

  public static final int EINTR = 4;
  public static final int EIO = 5;
  private static final int SC_PAGESIZE = 30;
  public static final int EAGAIN = 11;
  public static final int EBADF = 9;
  public static final int EACCES = 13;
  public static final int EEXIST = 17;
  public static final int ENOTDIR = 20;
  public static final int EINVAL = 22;
  public static final int EROFS = 30;
  public static final int ENOSPC = 28;
  public static final int ENOENT = 2;
  public static final int ENXIO = 6;
  public static final int S_IFDIR = 0040000;
  public static final int EPERM = 1;
  public static final int EMLINK = 31;
  public static final int ENAMETOOLONG = 36;
  public static final int EFBIG = 27;
  public static final int EDQUOT = 122;
  public static final int ENOTEMPTY = 39;
  public static final int EILSEQ = 84;
  public static final int EOPNOTSUPP = 95;

  /** Size of {@code struct stat} on 64-bit Linux, rounded up. */
  public static final int STAT_BYTES = 256;

  private static final int S_IFMT = 0170000;
  public static final int S_IFREG = 0100000;
  private static final long ST_SIZE_OFFSET = 48;

  private final LibC libc;
  private final Runtime runtime;
  private final long stModeOffset;
  private final boolean aarch64;

  private Posix(LibC libc) {
    this.libc = libc;
    this.runtime = Runtime.getRuntime(libc);
    Platform p = Platform.getNativePlatform();
    if (p.getOS() != Platform.OS.LINUX) {
      throw new UnsupportedOperationException("cbtfs runs on Linux only");
    }
    this.aarch64 = p.getCPU() == Platform.CPU.AARCH64;
    this.stModeOffset =
        switch (p.getCPU()) {
          case X86_64 -> 24;
          case AARCH64 -> 16;
          default ->
              throw new UnsupportedOperationException(
                  "unsupported CPU " + p.getCPU() + " (x86_64 and aarch64 only)");
        };
  }

  private static final class Holder {
    static final Posix INSTANCE = new Posix(LibraryLoader.create(LibC.class).load("c"));
  }

  public static Posix get() {
    return Holder.INSTANCE;
  }

  public Runtime runtime() {
    return runtime;
  }

  public LibC libc() {
    return libc;
  }

  /** The machine's memory page size in bytes (sysconf(_SC_PAGESIZE)): 4 KiB on x86-64. */
  public long pageBytes() {
    long bytes = libc.sysconf(SC_PAGESIZE);
    return bytes > 0 ? bytes : 4096;
  }

  /** A fresh native buffer for {@code struct stat}, for the few calls that stat outside FUSE. */
  public Pointer allocateStat() {
    return jnr.ffi.Memory.allocateDirect(runtime, STAT_BYTES);
  }

  public int mode(Pointer stat) {
    return stat.getInt(stModeOffset);
  }

  public static boolean isRegular(int mode) {
    return (mode & S_IFMT) == S_IFREG;
  }

  /** st_dev: the device of the file system the file is on (the first field on both CPUs). */
  public long device(Pointer stat) {
    return stat.getLong(0);
  }

  public long size(Pointer stat) {
    return stat.getLong(ST_SIZE_OFFSET);
  }

  // The other fields of struct stat, for a transport that encodes attributes itself (the kernel
  // FUSE transport's fuse_attr). x86_64 and aarch64 differ only up to st_rdev and in the widths of
  // st_nlink and st_blksize; from st_size on the offsets are the same.

  public long nlink(Pointer stat) {
    return aarch64 ? Integer.toUnsignedLong(stat.getInt(20)) : stat.getLong(16);
  }

  public int uid(Pointer stat) {
    return stat.getInt(aarch64 ? 24 : 28);
  }

  public int gid(Pointer stat) {
    return stat.getInt(aarch64 ? 28 : 32);
  }

  public long rdev(Pointer stat) {
    return stat.getLong(aarch64 ? 32 : 40);
  }

  public int blksize(Pointer stat) {
    return stat.getInt(56); // little-endian: the low half of x86_64's 64-bit field
  }

  public long blocks(Pointer stat) {
    return stat.getLong(64);
  }

  /** Seconds of st_atim (0), st_mtim (1) or st_ctim (2). */
  public long timeSeconds(Pointer stat, int which) {
    return stat.getLong(72 + 16L * which);
  }

  /** Nanoseconds of st_atim (0), st_mtim (1) or st_ctim (2). */
  public int timeNanos(Pointer stat, int which) {
    return (int) stat.getLong(80 + 16L * which);
  }

  /**
   * Fills {@code stat} for a file that has no backing file (a read-only mount's): every other field
   * zero. {@code blocks} counts 512-byte units.
   */
  public void fillStat(
      Pointer stat,
      int mode,
      long nlink,
      long size,
      long blocks,
      long mtimeSeconds,
      int uid,
      int gid) {
    // the real struct's size, not STAT_BYTES: libfuse hands over a struct stat on its stack
    int bytes = aarch64 ? 128 : 144;
    for (int i = 0; i < bytes; i += 8) {
      stat.putLong(i, 0);
    }
    stat.putInt(stModeOffset, mode);
    if (aarch64) {
      stat.putInt(20, (int) nlink);
    } else {
      stat.putLong(16, nlink);
    }
    stat.putInt(aarch64 ? 24 : 28, uid);
    stat.putInt(aarch64 ? 28 : 32, gid);
    stat.putLong(ST_SIZE_OFFSET, size);
    stat.putInt(56, 4096); // st_blksize
    stat.putLong(64, blocks);
    for (int which = 0; which < 3; which++) {
      stat.putLong(72 + 16L * which, mtimeSeconds);
    }
  }

  /** Throws for a negative {@code result}, with errno read right after the call. */
  public long check(long result, String call, Object subject) throws ErrnoException {
    if (result < 0) {
      int errno = runtime.getLastError();
      throw new ErrnoException(errno, call + " " + subject + ": " + libc.strerror(errno));
    }
    return result;
  }

  /**
   * Reads up to {@code length} bytes at {@code offset} into {@code buf}, retrying after EINTR and
   * short reads; fewer only at the end of the file. Returns the bytes read.
   */
  public long preadFully(int fd, Pointer buf, long length, long offset, Object subject)
      throws ErrnoException {
    long done = 0;
    while (done < length) {
      long n = libc.pread(fd, done == 0 ? buf : buf.slice(done), length - done, offset + done);
      if (n < 0 && runtime.getLastError() == EINTR) {
        continue;
      }
      if (check(n, "pread", subject) == 0) {
        break;
      }
      done += n;
    }
    return done;
  }

  /** Writes all {@code length} bytes of {@code buf} at {@code offset}, retrying after EINTR. */
  public void pwriteFully(int fd, Pointer buf, long length, long offset, Object subject)
      throws ErrnoException {
    long done = 0;
    while (done < length) {
      long n = libc.pwrite(fd, done == 0 ? buf : buf.slice(done), length - done, offset + done);
      if (n < 0 && runtime.getLastError() == EINTR) {
        continue;
      }
      if (check(n, "pwrite", subject) == 0) { // would never end: say so instead
        throw new ErrnoException(EIO, "pwrite " + subject + ": wrote nothing");
      }
      done += n;
    }
  }

  public int open(String path, int flags, int mode) throws ErrnoException {
    return (int) check(libc.open(path, flags | O_CLOEXEC, mode), "open", path);
  }

  public void close(int fd) throws ErrnoException {
    check(libc.close(fd), "close", "fd " + fd);
  }

  public void fstat(int fd, Pointer stat) throws ErrnoException {
    check(libc.fstat(fd, stat), "fstat", "fd " + fd);
  }

  public void lstat(String path, Pointer stat) throws ErrnoException {
    check(libc.lstat(path, stat), "lstat", path);
  }

  public long fileSize(int fd) throws ErrnoException {
    Pointer stat = allocateStat();
    fstat(fd, stat);
    return size(stat);
  }
}
