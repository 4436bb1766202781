package io.cbtfs.fs.mount;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackingOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code cbtfs mount} was asked for.
 *
 * @param backingDir the directory whose regular files are served
 * @param mountPoint an empty directory to mount on
 * @param stateDir tracking state; default {@code backingDir/.cbtfs}
 * @param tracking block size, activity-log extents, reset of corrupt state
 * @param allowOther let users other than the mount's owner (e.g. libvirt's qemu) open the images
 * @param directIo bypass the kernel's page cache for the mount (FUSE direct_io): no double caching
 *     of image data, every read reaches the backing file's cache; see docs/ARCHITECTURE.md
 * @param transport how to talk to the kernel ({@link FuseTransport#AUTO}: the kernel protocol when
 *     it can mount, else libfuse 2)
 * @param writebackCache the kernel's writeback cache (kernel transport only)
 */
public record MountOptions(
    Path backingDir,
    Path mountPoint,
    Path stateDir,
    TrackingOptions tracking,
    boolean allowOther,
    boolean directIo,
    FuseTransport transport,
    boolean writebackCache) {

  public static final String DEFAULT_STATE_DIR_NAME = ".cbtfs";

  /** libfuse 2.9's largest request: bigger writes are split by the kernel anyway. */
  static final int MAX_REQUEST_BYTES = 128 << 10;

  /** The mode options of a mount that takes writes: big writes, up to the largest request. */
  static final List<String> WRITABLE = List.of("big_writes", "max_write=" + MAX_REQUEST_BYTES);

  /** The mode options of a read-only mount. */
  static final List<String> READ_ONLY = List.of("ro");

  public MountOptions {
    transport = transport == null ? FuseTransport.AUTO : transport;
    backingDir = backingDir.toAbsolutePath().normalize();
    mountPoint = mountPoint.toAbsolutePath().normalize();
    stateDir =
        stateDir == null ? defaultStateDir(backingDir) : stateDir.toAbsolutePath().normalize();
  }

  /** Defaults (64 KiB blocks, 4 MiB activity-log extents, direct I/O) for tests and the demo. */
  public static MountOptions withDefaults(
      Path backingDir, Path mountPoint, BlockGeometry geometry) {
    return new MountOptions(
        backingDir,
        mountPoint,
        null,
        TrackingOptions.defaults(geometry),
        false,
        true,
        FuseTransport.AUTO,
        false);
  }

  public BlockGeometry geometry() {
    return tracking.geometry();
  }

  public static Path defaultStateDir(Path backingDir) {
    return backingDir.toAbsolutePath().normalize().resolve(DEFAULT_STATE_DIR_NAME);
  }

  /**
   * The FUSE options. {@code fsname} carries the state directory, so tools find a running mount's
   * control socket from /proc/mounts alone. {@code default_permissions} makes the kernel check file
   * modes: without it every user allowed in would get the daemon's (often root's) rights.
   */
  List<String> fuseArgs(String programName) {
    return fuseArgs(programName, mountPoint, stateDir.toString(), WRITABLE, allowOther, directIo);
  }

  /**
   * libfuse 2's command line for a mount named {@code fsName} in /proc/mounts, with {@code
   * modeOptions} saying what kind of mount it is (writable with big writes, or read-only).
   */
  static List<String> fuseArgs(
      String programName,
      Path mountPoint,
      String fsName,
      List<String> modeOptions,
      boolean allowOther,
      boolean directIo) {
    List<String> opts = new ArrayList<>();
    opts.add("fsname=" + escaped(fsName));
    opts.add("subtype=cbtfs");
    opts.add("default_permissions");
    opts.addAll(modeOptions);
    opts.add("max_read=" + MAX_REQUEST_BYTES);
    if (allowOther) {
      opts.add("allow_other");
    }
    if (directIo) {
      opts.add("direct_io"); // per mount: jnr-fuse maps FuseFileInfo's direct_io bit wrongly
    }
    return List.of(programName, "-f", "-o", String.join(",", opts), mountPoint.toString());
  }

  /**
   * {@code fsName} (a state directory, a read-only mount's source) as a FUSE fsname: libfuse splits
   * options at commas, so those are escaped with a backslash (as are backslashes themselves).
   */
  static String escaped(String fsName) {
    return fsName.replace("\\", "\\\\").replace(",", "\\,");
  }
}
