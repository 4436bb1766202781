package io.cbtfs.fs.kernel;

import java.nio.file.Path;

/**
 * What the kernel transport mounts and negotiates.
 *
 * @param mountPoint where to mount (a real path)
 * @param fsName the mount's source in /proc/mounts: the state directory, so tools find the control
 *     socket
 * @param allowOther let users other than the mount's owner in (file modes still apply)
 * @param directIo every open bypasses the kernel's page cache (FOPEN_DIRECT_IO)
 * @param writebackCache negotiate the kernel's writeback cache (only without direct I/O)
 * @param workers threads reading requests
 */
public record KernelOptions(
    Path mountPoint,
    String fsName,
    boolean allowOther,
    boolean directIo,
    boolean writebackCache,
    int workers) {

  /** The mount's data string for mount(2), given the /dev/fuse descriptor and its owner. */
  String mountData(int fd, int uid, int gid) {
    // default_permissions: the kernel checks file modes (without it every user let in would get
    // the daemon's rights); rootmode is the root's type until the first GETATTR; max_read: no READ
    // beyond a worker's buffer, whatever max_pages the kernel settles on
    StringBuilder data =
        new StringBuilder("fd=")
            .append(fd)
            .append(",rootmode=40000,user_id=")
            .append(uid)
            .append(",group_id=")
            .append(gid)
            .append(",default_permissions,max_read=")
            .append(WorkerBuffers.MAX_DATA);
    if (allowOther) {
      data.append(",allow_other");
    }
    return data.toString();
  }
}
