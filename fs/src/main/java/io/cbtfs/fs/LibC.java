package io.cbtfs.fs;

import jnr.ffi.Pointer;

/**
 * The libc calls of the data path, bound with jnr-ffi. Return values and errno follow the man
 * pages; {@link Posix} turns failures into {@link ErrnoException}s.
 */
public interface LibC {
  int open(String path, int flags, int mode);

  int close(int fd);

  long pread(int fd, Pointer buf, long count, long offset);

  long pwrite(int fd, Pointer buf, long count, long offset);

  long lseek(int fd, long offset, int whence);

  int fsync(int fd);

  int fdatasync(int fd);

  int ftruncate(int fd, long length);

  int fallocate(int fd, int mode, long offset, long length);

  int fstat(int fd, Pointer statbuf);

  int lstat(String path, Pointer statbuf);

  int statvfs(String path, Pointer buf);

  int utimensat(int dirfd, String path, Pointer times, int flags);

  int chmod(String path, int mode);

  int lchown(String path, int owner, int group);

  int rename(String oldpath, String newpath);

  int unlink(String path);

  int flock(int fd, int operation);

  int umask(int mask);

  String strerror(int errnum);

  long sysconf(int name);
}
