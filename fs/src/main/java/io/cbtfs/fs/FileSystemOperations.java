package io.cbtfs.fs;

import java.io.IOException;
import java.util.List;
import jnr.ffi.Pointer;

/**
 * What a FUSE transport calls: the operations of a mount in plain Java, given a path or an open
 * handle. {@link ImageFileSystem} serves a tracked folder of images; {@link ReadOnlyFileSystem}
 * serves read-only files (stored generations). Failures are {@link IOException}s ({@link
 * ErrnoException} with the errno to return); the transports map them at one boundary ({@link
 * FuseGuard}).
 */
public interface FileSystemOperations {
  void getattr(String fusePath, Pointer stat) throws IOException;

  void fgetattr(long fh, Pointer stat) throws IOException;

  List<String> readdir(String fusePath) throws IOException;

  long open(String fusePath, int flags) throws IOException;

  long create(String fusePath, int mode, int flags) throws IOException;

  /** Reads up to {@code byteLength} bytes; fewer only at the end of the file. */
  int read(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException;

  int write(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException;

  /** A write of pages the kernel's writeback cache already acknowledged. */
  int writeBack(long fh, Pointer buf, long byteLength, long byteOffset) throws IOException;

  void truncate(String fusePath, long newSize) throws IOException;

  void ftruncate(long fh, long newSize) throws IOException;

  void fallocate(long fh, int mode, long byteOffset, long byteLength) throws IOException;

  /** lseek(2) of an open file (SEEK_DATA, SEEK_HOLE); returns the new offset. */
  long seek(long fh, long byteOffset, int whence) throws IOException;

  void fsync(long fh, boolean dataOnly) throws IOException;

  void release(long fh) throws IOException;

  void statfs(Pointer statvfs) throws IOException;

  void utimens(String fusePath, Pointer times) throws IOException;

  void chmod(String fusePath, long mode) throws IOException;

  void chown(String fusePath, long uid, long gid) throws IOException;

  void rename(String fromFusePath, String toFusePath) throws IOException;

  void unlink(String fusePath) throws IOException;
}
