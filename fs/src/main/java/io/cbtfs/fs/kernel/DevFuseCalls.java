package io.cbtfs.fs.kernel;

import jnr.ffi.Pointer;

/**
 * The system calls of the kernel transport beyond {@link io.cbtfs.fs.LibC}: reading requests from
 * and writing replies to /dev/fuse, mounting and unmounting. Bound with jnr-ffi; negative results
 * leave errno set.
 */
public interface DevFuseCalls {
  long read(int fd, Pointer buf, long count);

  long write(int fd, Pointer buf, long count);

  int mount(String source, String target, String fstype, long flags, String data);

  int umount2(String target, int flags);

  int ioctl(int fd, long request, Pointer arg);

  int geteuid();

  int getegid();
}
