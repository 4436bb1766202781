package io.cbtfs.fs.mount;

import io.cbtfs.fs.Posix;
import io.cbtfs.fs.ReadOnlyFileSystem;
import io.cbtfs.fs.RequestObserver;
import io.cbtfs.fs.ServedFiles;
import io.cbtfs.fs.kernel.KernelOptions;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-only mount of {@link ServedFiles} (the generations of a backup): no backing folder, no
 * tracking, no state directory. With direct I/O (the default) every read reaches the files as the
 * reader asked for it, so a damaged piece fails the reads that touch it and no others; with the
 * page cache, the kernel's read-ahead would fail a neighbour's read too. The same transports as a
 * {@link Mount} serve it; {@code fsname} in /proc/mounts is {@code cbtfs-ro:} and the source, so it
 * is never taken for a tracking mount.
 */
public final class ReadOnlyMount implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReadOnlyMount.class);
  private static final long UNMOUNT_TIMEOUT_SECONDS = 30;

  private final Path mountPoint;
  private final ReadOnlyFileSystem fs;
  private final ServingLoop loop;
  private final ServingThread serving;
  private boolean closed;
  private MountIdentity identity;

  private ReadOnlyMount(Path mountPoint, ReadOnlyFileSystem fs, ServingLoop loop) {
    this.mountPoint = mountPoint;
    this.fs = fs;
    this.loop = loop;
    this.serving = new ServingThread(loop);
  }

  /**
   * Mounts {@code files} on {@code mountPoint} (an empty folder) and returns once the mount serves.
   * {@code source} names what is served, in /proc/mounts. Read-only, unless {@code overlaid}: then
   * the mount takes writes (to the {@link io.cbtfs.fs.WritableFile}s among {@code files}; libfuse 2
   * would otherwise mount it {@code ro}, refused by the kernel before we see it).
   *
   * @throws CbtfsException with a one-line reason when the mount cannot be made
   */
  public static ReadOnlyMount start(
      Path mountPoint,
      String source,
      FuseTransport transport,
      boolean allowOther,
      boolean directIo,
      boolean overlaid,
      ServedFiles files)
      throws IOException {
    if (!Files.isDirectory(mountPoint)) {
      throw new CbtfsException("mount point " + mountPoint + " is not a directory");
    }
    Path mp = mountPoint.toRealPath();
    if (ProcMounts.isMounted(mp)) {
      throw new CbtfsException("something is already mounted on " + mp);
    }
    try (var entries = Files.list(mp)) {
      if (entries.findAny().isPresent()) {
        throw new CbtfsException("mount point " + mp + " is not empty");
      }
    }
    if (!Files.exists(Path.of("/dev/fuse"))) {
      throw new CbtfsException("/dev/fuse is missing: load the fuse module (modprobe fuse)");
    }
    Path self = Path.of("/proc/self");
    int uid = (Integer) Files.getAttribute(self, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    int gid = (Integer) Files.getAttribute(self, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    ReadOnlyFileSystem fs = new ReadOnlyFileSystem(files, Posix.get(), uid, gid);
    String fsName = "cbtfs-ro:" + source;
    KernelOptions kernel =
        new KernelOptions(mp, fsName, allowOther, directIo, false, ServingLoop.KERNEL_WORKERS);
    ServingLoop loop =
        ServingLoop.open(
            transport,
            kernel,
            MountOptions.fuseArgs(
                "cbtfs",
                mp,
                fsName,
                overlaid ? MountOptions.WRITABLE : MountOptions.READ_ONLY,
                allowOther,
                directIo),
            false,
            fs,
            RequestObserver.NONE);
    ReadOnlyMount mount = new ReadOnlyMount(mp, fs, loop);
    mount.serving.startAndAwaitServing(mp.toString());
    mount.identity = Mount.recordOrUnmount(mp);
    log.info(
        "mounted {} {} on {} (FUSE transport: {})",
        source,
        overlaid ? "with an overlay" : "read-only",
        mp,
        mount.transport().label());
    return mount;
  }

  public Path mountPoint() {
    return mountPoint;
  }

  /** The transport serving it (never {@link FuseTransport#AUTO}). */
  public FuseTransport transport() {
    return loop.transport();
  }

  /** Blocks until the FUSE loop ends (unmounted by us or by anyone else). */
  public void awaitUnmounted() throws InterruptedException {
    try {
      serving.result().get();
    } catch (ExecutionException e) {
      log.error("FUSE loop failed", e.getCause());
    }
  }

  /**
   * Unmounts and waits for the FUSE loop to end; a busy mount point (an open file) is detached
   * lazily, so nothing is left behind when the process goes. Idempotent.
   */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    if (!serving.result().isDone()) {
      try {
        identity.unmountIfAtPath(() -> Mount.unmount(mountPoint));
      } catch (CbtfsException busy) {
        log.warn("{}; detaching lazily", busy.getMessage());
        identity.unmountIfAtPath(() -> Mount.unmountLazily(mountPoint));
      }
    }
    try {
      serving.result().get(UNMOUNT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("FUSE loop of {} did not end cleanly: {}", mountPoint, e.toString());
    }
    log.info("stopped serving {}", mountPoint); // unmounted, or left to another mount there
  }

  /** Handles open now (files read through the mount). */
  public int openCount() {
    return fs.openCount();
  }
}
