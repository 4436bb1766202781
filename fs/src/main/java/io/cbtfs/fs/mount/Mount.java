package io.cbtfs.fs.mount;

import io.cbtfs.fs.ImageFileSystem;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.fuse.CbtFuseFs;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackerStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running cbtfs mount. {@link #start} returns once the kernel serves the mount point; {@link
 * #close} unmounts (waiting for the FUSE loop to end), closes the backing files and writes the
 * tracking state with the clean flag. Also ends cleanly when someone else unmounts: {@link
 * #awaitUnmounted} returns, and close persists.
 */
public final class Mount implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Mount.class);
  private static final long START_TIMEOUT_SECONDS = 30;
  private static final long UNMOUNT_TIMEOUT_SECONDS = 30;

  private final MountOptions options;
  private final ImageFileSystem fs;
  private final Thread loopThread;
  private final CompletableFuture<Integer> loopResult = new CompletableFuture<>();
  private boolean closed;

  private Mount(MountOptions options, ImageFileSystem fs, CbtFuseFs fuse) {
    this.options = options;
    this.fs = fs;
    String[] args = options.fuseArgs("cbtfs").toArray(String[]::new);
    this.loopThread =
        new Thread(
            () -> {
              try {
                loopResult.complete(fuse.runLoop(args));
              } catch (Throwable t) {
                loopResult.completeExceptionally(t);
              }
            },
            "cbtfs-fuse-loop");
  }

  /**
   * Mounts and returns once the mount serves requests.
   *
   * @throws CbtfsException with a one-line reason when the mount cannot be made
   */
  public static Mount start(MountOptions options) throws IOException {
    checkPreconditions(options);
    TrackerStore trackers = TrackerStore.open(options.stateDir(), options.tracking());
    Mount mount;
    try {
      ImageFiles files = new ImageFiles(options.backingDir(), options.stateDir());
      ImageFileSystem fs = new ImageFileSystem(files, trackers, Posix.get());
      CbtFuseFs fuse = new CbtFuseFs(fs);
      mount = new Mount(options, fs, fuse);
      mount.loopThread.start();
      mount.awaitServing(fuse);
    } catch (IOException | RuntimeException e) {
      trackers.close();
      throw e;
    }
    log.info(
        "mounted {} on {} (state in {})",
        options.backingDir(),
        options.mountPoint(),
        options.stateDir());
    return mount;
  }

  private void awaitServing(CbtFuseFs fuse) throws IOException {
    try {
      CompletableFuture<Object> ready =
          CompletableFuture.anyOf(
              loopResult,
              CompletableFuture.runAsync(
                  () -> {
                    try {
                      fuse.initialized().await();
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }));
      ready.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new CbtfsException("mount did not come up within " + START_TIMEOUT_SECONDS + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CbtfsException("interrupted while mounting");
    } catch (ExecutionException e) {
      throw new CbtfsException("FUSE loop failed to start: " + e.getCause(), e.getCause());
    }
    if (loopResult.isDone()) {
      throw new CbtfsException(
          "libfuse could not mount "
              + options.mountPoint()
              + " (exit "
              + loopResult.join()
              + "); its reason is printed above");
    }
  }

  static void checkPreconditions(MountOptions options) throws IOException {
    Path backing = options.backingDir();
    if (!Files.isDirectory(backing)) {
      throw new CbtfsException("backing directory " + backing + " does not exist");
    }
    Path mp = options.mountPoint();
    if (!Files.isDirectory(mp)) {
      throw new CbtfsException("mount point " + mp + " is not a directory");
    }
    if (ProcMounts.isMounted(mp)) {
      throw new CbtfsException("something is already mounted on " + mp);
    }
    try (var entries = Files.list(mp)) {
      if (entries.findAny().isPresent()) {
        throw new CbtfsException("mount point " + mp + " is not empty");
      }
    }
    if (mp.startsWith(backing) || backing.startsWith(mp)) {
      throw new CbtfsException("mount point and backing directory must not contain each other");
    }
    if (!Files.exists(Path.of("/dev/fuse"))) {
      throw new CbtfsException("/dev/fuse is missing: load the fuse module (modprobe fuse)");
    }
  }

  public MountOptions options() {
    return options;
  }

  public ImageFileSystem fileSystem() {
    return fs;
  }

  /** Blocks until the FUSE loop ends (unmounted by us or by anyone else). */
  public void awaitUnmounted() throws InterruptedException {
    try {
      loopResult.get();
    } catch (ExecutionException e) {
      log.error("FUSE loop failed", e.getCause());
    }
  }

  public boolean isServing() {
    return !loopResult.isDone();
  }

  /**
   * Unmounts, waits for the FUSE loop to end, closes every backing file and persists the tracking
   * as clean. If the mount point is busy (an open image), fails and leaves the mount serving.
   * Idempotent.
   *
   * @throws CbtfsException if the mount point is busy
   */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    if (Thread.currentThread().getName().startsWith("cbtfs-fuse")) {
      throw new IllegalStateException("never unmount from a FUSE thread");
    }
    if (isServing()) {
      unmount(options.mountPoint());
    }
    try {
      loopResult.get(UNMOUNT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      loopThread.join(TimeUnit.SECONDS.toMillis(UNMOUNT_TIMEOUT_SECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for the FUSE loop to end");
    } catch (ExecutionException e) {
      log.error("FUSE loop failed", e.getCause());
    } catch (TimeoutException e) {
      throw new IOException("FUSE loop did not end within " + UNMOUNT_TIMEOUT_SECONDS + " s");
    }
    closed = true;
    fs.closeAll();
    log.info("unmounted {}; tracking state saved in {}", options.mountPoint(), options.stateDir());
  }

  /**
   * Last resort at process shutdown when {@link #close} found the mount busy: detaches the mount
   * lazily and waits a while for the FUSE loop to end. If it ended, the tracking is saved as clean;
   * if not (an image is still open), it stays marked unclean and the next mount recovers it.
   */
  public synchronized void closeLazily() throws IOException {
    if (closed) {
      return;
    }
    if (isServing()) {
      runFusermount(List.of("-u", "-z"), options.mountPoint());
    }
    try {
      loopResult.get(UNMOUNT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } catch (ExecutionException | TimeoutException e) {
      log.error(
          "FUSE loop still busy after lazy unmount: tracking of {} stays marked unclean",
          options.backingDir());
      return;
    }
    closed = true;
    fs.closeAll();
  }

  /**
   * Runs {@code fusermount -u}; it fails (and we report it) while files on the mount are open.
   *
   * @throws CbtfsException naming the reason fusermount gave
   */
  public static void unmount(Path mountPoint) throws IOException {
    runFusermount(List.of("-u"), mountPoint);
  }

  private static void runFusermount(List<String> flags, Path mountPoint) throws IOException {
    List<String> command = new java.util.ArrayList<>();
    command.add("fusermount");
    command.addAll(flags);
    command.add("--");
    command.add(mountPoint.toString());
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    try {
      if (p.waitFor() != 0) {
        throw new CbtfsException(
            "cannot unmount "
                + mountPoint
                + ": "
                + (output.isEmpty()
                    ? "fusermount failed"
                    : output.replaceFirst("^fusermount: ", "")));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while unmounting");
    }
  }
}
