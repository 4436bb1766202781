package io.cbtfs.fs.mount;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.ImageFileSystem;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.RequestObserver;
import io.cbtfs.fs.WriteTracking;
import io.cbtfs.fs.kernel.KernelSession;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.StateDirectory;
import io.cbtfs.tracker.TrackerStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
  private static final long UNMOUNT_TIMEOUT_SECONDS = 30;

  private final MountOptions options;
  private final ImageFileSystem fs;
  private final BackingDirLock backingLock;
  private final ServingLoop loop;
  private final ServingThread serving;
  private boolean closed;
  private volatile boolean changesRefused;

  /** Which mount this is, recorded once it serves: see {@link MountIdentity}. */
  private volatile MountIdentity identity;

  /** Servers beside the kernel that use {@link #fs} (an NBD export): see {@link #closeWith}. */
  private final List<AutoCloseable> servers = new java.util.concurrent.CopyOnWriteArrayList<>();

  private Mount(
      MountOptions options, ImageFileSystem fs, ServingLoop loop, BackingDirLock backingLock) {
    this.options = options;
    this.fs = fs;
    this.loop = loop;
    this.backingLock = backingLock;
    this.serving = new ServingThread(loop);
  }

  /**
   * Mounts and returns once the mount serves requests. The folders are taken by their real paths
   * ({@link #validate}); {@link #options} has them so.
   *
   * @throws CbtfsException with a one-line reason when the mount cannot be made
   */
  public static Mount start(MountOptions asked) throws IOException {
    return start(asked, WriteTracking.TRACKED);
  }

  /**
   * {@link #start(MountOptions)} with {@code tracking} on the write path: a benchmark measures what
   * the tracking costs by mounting with less of it.
   */
  public static Mount start(MountOptions asked, WriteTracking tracking) throws IOException {
    return start(asked, tracking, RequestObserver.NONE);
  }

  /** {@link #start(MountOptions)}, telling {@code observer} of every FUSE request answered. */
  public static Mount start(MountOptions asked, RequestObserver observer) throws IOException {
    return start(asked, WriteTracking.TRACKED, observer);
  }

  private static Mount start(MountOptions asked, WriteTracking tracking, RequestObserver observer)
      throws IOException {
    MountOptions options = checked(asked);
    BackingDirLock backingLock = BackingDirLock.acquire(options.backingDir());
    TrackerStore trackers = null;
    Mount mount;
    try {
      trackers = TrackerStore.open(options.stateDir(), options.tracking());
      ImageFiles files = new ImageFiles(options.backingDir(), options.stateDir());
      ImageFileSystem fs = new ImageFileSystem(files, trackers, Posix.get(), tracking);
      mount = new Mount(options, fs, ServingLoop.open(options, fs, observer), backingLock);
      mount.serving.startAndAwaitServing(options.mountPoint().toString());
      mount.identity = recordOrUnmount(options.mountPoint());
    } catch (IOException | RuntimeException e) {
      if (trackers != null) {
        trackers.close();
      }
      backingLock.close();
      throw e;
    }
    log.info(
        "mounted {} on {} (state in {}; FUSE transport: {})",
        options.backingDir(),
        options.mountPoint(),
        options.stateDir(),
        mount.transport().label());
    return mount;
  }

  /** {@link MountIdentity#record} of a mount that now serves; unmounts it if that fails. */
  static MountIdentity recordOrUnmount(Path mountPoint) throws IOException {
    try {
      return MountIdentity.record(mountPoint);
    } catch (IOException e) {
      try {
        unmount(mountPoint, true);
      } catch (IOException | RuntimeException again) {
        e.addSuppressed(again);
      }
      throw new CbtfsException("cannot look at " + mountPoint + " once mounted: " + e, e);
    }
  }

  /**
   * Checks everything a mount needs before anything is created or locked, and returns the options
   * with the folders' real paths: a backing folder named through a symbolic link is served as the
   * folder it leads to, and every check below sees the folders, not their spelling. Refuses a mount
   * point that is mounted, not empty, inside the backing folder or holding it; a backing folder
   * inside a cbtfs mount, or one another mount serves; a state directory under the mount point, or
   * one that is not safe ({@link StateDirectory}).
   *
   * @throws CbtfsException naming the first thing that is wrong
   */
  public static MountOptions validate(MountOptions asked) throws IOException {
    MountOptions options = checked(asked);
    // a --daemon mount's parent refuses here, before it forks; start takes the lock itself
    BackingDirLock.check(options.backingDir());
    return options;
  }

  /** {@link #validate} but the backing folder's lock, which {@link #start} acquires instead. */
  private static MountOptions checked(MountOptions asked) throws IOException {
    List<ProcMounts.Entry> mounts = ProcMounts.entries();
    if (ProcMounts.isMounted(mounts, asked.mountPoint())) {
      throw new CbtfsException("something is already mounted on " + asked.mountPoint());
    }
    Path backing = realDirectory(asked.backingDir(), "backing directory");
    Path mp = realDirectory(asked.mountPoint(), "mount point");
    Path stateDir = realStateDir(asked);
    MountOptions options =
        new MountOptions(
            backing,
            mp,
            stateDir,
            asked.tracking(),
            asked.allowOther(),
            asked.directIo(),
            asked.transport(),
            asked.writebackCache());
    if (ProcMounts.isMounted(mounts, mp)) {
      throw new CbtfsException("something is already mounted on " + mp);
    }
    try (var entries = Files.list(mp)) {
      if (entries.findAny().isPresent()) {
        throw new CbtfsException("mount point " + mp + " is not empty");
      }
    }
    if (mp.startsWith(backing) || backing.startsWith(mp)) {
      throw new CbtfsException(
          "mount point "
              + mp
              + " and backing directory "
              + backing
              + " must not contain each other");
    }
    if (stateDir.startsWith(mp)) {
      throw new CbtfsException(
          "state directory " + stateDir + " must not be under the mount point");
    }
    for (ProcMounts.Entry e : mounts) {
      if (e.type().equals("fuse.cbtfs") && backing.startsWith(Path.of(e.mountPoint()))) {
        throw new CbtfsException(
            "backing directory " + backing + " is inside the cbtfs mount on " + e.mountPoint());
      }
      if (e.type().equals("fuse.cbtfs") && stateDir.startsWith(Path.of(e.mountPoint()))) {
        throw new CbtfsException(
            "state directory " + stateDir + " is inside the cbtfs mount on " + e.mountPoint());
      }
    }
    StateDirectory.check(stateDir);
    if (Files.isDirectory(stateDir) && !stateDir.equals(backing)) {
      requireUnserved(stateDir, "state directory"); // another mount would serve its files
    }
    if (!Files.exists(Path.of("/dev/fuse"))) {
      throw new CbtfsException("/dev/fuse is missing: load the fuse module (modprobe fuse)");
    }
    return options;
  }

  /**
   * Refuses a folder that a running cbtfs mount serves as its backing folder: files put there (a
   * state directory, a receiver's replicas) would be served as images and could be changed through
   * that mount.
   *
   * @param what how the caller names the folder, for the message
   */
  public static void requireUnserved(Path folder, String what) throws IOException {
    try {
      BackingDirLock.check(folder);
    } catch (CbtfsException e) {
      throw new CbtfsException(
          what + " " + folder + " is the backing folder of a running cbtfs mount: choose another");
    }
  }

  private static Path realDirectory(Path dir, String what) throws IOException {
    if (!Files.exists(dir)) {
      throw new CbtfsException(what + " " + dir + " does not exist");
    }
    if (!Files.isDirectory(dir)) {
      throw new CbtfsException(what + " " + dir + " is not a directory");
    }
    return dir.toRealPath();
  }

  /** The state directory by its real path; a missing one by its parent's. */
  private static Path realStateDir(MountOptions asked) throws IOException {
    Path dir = asked.stateDir();
    if (Files.exists(dir)) {
      return dir.toRealPath();
    }
    Path parent = dir.getParent();
    return parent != null && Files.isDirectory(parent)
        ? parent.toRealPath().resolve(dir.getFileName())
        : dir;
  }

  public MountOptions options() {
    return options;
  }

  public ImageFileSystem fileSystem() {
    return fs;
  }

  /** The transport serving this mount (never {@link FuseTransport#AUTO}). */
  public FuseTransport transport() {
    return loop.transport();
  }

  /**
   * With the kernel's writeback cache, a write is acknowledged to its writer while its pages are
   * still dirty in the kernel, unknown to the tracker. Before a sync drains {@code imageName}'s
   * dirty set, this makes the kernel send them: fdatasync through the mount writes the image's
   * dirty pages back as WRITE requests, each tracked before it is answered, so every write
   * acknowledged before the sync started is in that sync. Without the writeback cache there is
   * nothing to flush. Never call it from a FUSE thread.
   *
   * @throws CbtfsException if the mount point no longer shows this mount (detached lazily, maybe
   *     with another mounted there): its cache cannot be reached, and a sync must not report
   *     success without it
   */
  public void flushKernelCache(String imageName) throws IOException {
    if (!options.writebackCache() || !isServing()) {
      return;
    }
    identity.flush(imageName);
  }

  /**
   * Registers a server that serves this mount's images through {@link #fileSystem} beside the
   * kernel (an NBD export). It is closed when the mount stops: at a shutdown right after changes
   * are refused (its handles are not waited for as a guest's are), and at any unmount before the
   * backing files are closed and the tracking saved, so none of its requests lands after the save
   * or on a descriptor closed under it.
   */
  public void closeWith(AutoCloseable server) {
    servers.add(server);
  }

  private void closeServers() {
    for (AutoCloseable server : servers) {
      try {
        server.close();
      } catch (Exception e) {
        log.warn("closing {}: {}", server, e.toString());
      }
    }
    servers.clear();
  }

  /** Blocks until the FUSE loop ends (unmounted by us or by anyone else). */
  public void awaitUnmounted() throws InterruptedException {
    try {
      serving.result().get();
    } catch (ExecutionException e) {
      log.error("FUSE loop failed", e.getCause());
    }
  }

  public boolean isServing() {
    return !serving.result().isDone();
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
    if (isServing() && !identity.unmountIfAtPath(() -> unmount(options.mountPoint()))) {
      // detached already, still serving a writer: it ends when that writer goes, not by us
      throw new CbtfsException(identity.notThisMount() + " and still serves an open file");
    }
    try {
      serving.result().get(UNMOUNT_TIMEOUT_SECONDS, TimeUnit.SECONDS);
      serving.join(UNMOUNT_TIMEOUT_SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for the FUSE loop to end");
    } catch (ExecutionException e) {
      log.error("FUSE loop failed", e.getCause());
    } catch (TimeoutException e) {
      throw new IOException("FUSE loop did not end within " + UNMOUNT_TIMEOUT_SECONDS + " s");
    }
    finishUnmount();
  }

  /** After the FUSE loop ended: marks the mount closed and saves its tracking. */
  private void finishUnmount() throws IOException {
    closed = true;
    saveTracking();
    log.info("unmounted {}; tracking state saved in {}", options.mountPoint(), options.stateDir());
  }

  /**
   * After the FUSE loop ended: closes the backing files, saves the tracking clean, frees the
   * backing folder.
   *
   * @throws UnsavedTrackingException if the tracking could not be saved (the unmount happened)
   */
  private void saveTracking() throws IOException {
    try {
      closeServers();
      fs.closeAll();
    } catch (IOException e) {
      throw new UnsavedTrackingException(options.mountPoint(), options.stateDir(), e);
    } finally {
      backingLock.close();
    }
  }

  /**
   * The stop at process shutdown (SIGTERM, Ctrl-C). First the mount refuses every change (EROFS,
   * {@link #refuseChanges}): the process is going away, so a change now is refused rather than
   * accepted with no mount left to account for it. Then it waits for the images still open to be
   * closed, at most {@value #UNMOUNT_TIMEOUT_SECONDS} s, and unmounts as {@link #close} does. If
   * the mount is still busy then (an image open, a working directory inside), it is detached
   * lazily, and the FUSE loop is given the rest of the time: if it ends, the tracking is saved
   * clean; if not, it stays marked unclean and the next mount recovers it (saved bitmap plus
   * activity log). Idempotent.
   */
  public synchronized void shutdown() throws IOException {
    if (closed) {
      return;
    }
    refuseChanges();
    closeServers();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(UNMOUNT_TIMEOUT_SECONDS);
    int open = fs.openCount();
    if (isServing() && open > 0) {
      log.warn(
          "stopping: changes through {} are refused from now on; waiting up to {} s for {} open"
              + " image(s) to be closed",
          options.mountPoint(),
          UNMOUNT_TIMEOUT_SECONDS,
          open);
      try {
        fs.awaitNoOpenFiles(deadline);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    } else {
      log.info("stopping: changes through {} are refused from now on", options.mountPoint());
    }
    try {
      close();
      return;
    } catch (UnsavedTrackingException e) {
      throw e;
    } catch (CbtfsException busy) {
      log.warn("{}; detaching lazily", busy.getMessage());
    }
    detachLazily(Math.max(deadline - System.nanoTime(), TimeUnit.SECONDS.toNanos(1)));
  }

  /**
   * Refuses every change through the mount from now on (the first step of a shutdown). With the
   * writeback cache, the kernel first writes back the pages it acknowledged ({@link
   * #flushKernelCache} of every image), and what it writes back later still gets through ({@link
   * ImageFileSystem#writeBack}): a refused writeback would be dropped, and the image lose writes
   * their writers saw succeed. Never call it from a FUSE thread.
   */
  public void refuseChanges() {
    if (changesRefused) {
      return;
    }
    changesRefused = true;
    flushAllKernelCaches();
    fs.refuseChanges();
  }

  /** At a stop with the writeback cache: {@link #flushKernelCache} of every image, logged. */
  private void flushAllKernelCaches() {
    if (!options.writebackCache() || !isServing()) {
      return;
    }
    try {
      for (String image : fs.files().list()) {
        try {
          flushKernelCache(image);
        } catch (IOException | CbtfsException e) { // detached: the stop goes on all the same
          log.warn("stopping: cannot flush the kernel's cache of {}: {}", image, e.getMessage());
        }
      }
    } catch (IOException e) {
      log.warn("stopping: cannot list {}: {}", options.backingDir(), e.toString());
    }
  }

  private void detachLazily(long waitNanos) throws IOException {
    if (isServing()) {
      // the kernel took writes after refuseChanges' flush (the daemon never saw them to refuse):
      // write them back while the path still reaches this mount; after the detach it cannot
      flushAllKernelCaches();
      if (options.writebackCache()) {
        log.warn(
            "stopping with images still open on {} and the writeback cache: writes acknowledged"
                + " from now on may never reach the images (stop the writers before the mount)",
            options.mountPoint());
      }
      identity.unmountIfAtPath(() -> unmount(options.mountPoint(), true));
    }
    try {
      serving.result().get(waitNanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    } catch (ExecutionException | TimeoutException e) {
      log.error(
          "FUSE loop still busy after lazy unmount: tracking of {} stays marked unclean",
          options.backingDir());
      return;
    }
    finishUnmount();
  }

  /**
   * Unmounts; fails (and we report it) while files on the mount are open. Root unmounts with
   * umount2(2) (either transport's mount, with or without fusermount installed); anyone else runs
   * {@code fusermount -u}.
   *
   * @throws CbtfsException naming the reason
   */
  public static void unmount(Path mountPoint) throws IOException {
    unmount(mountPoint, false);
  }

  /** Detaches {@code mountPoint} lazily: it goes once its last user does. */
  static void unmountLazily(Path mountPoint) throws IOException {
    unmount(mountPoint, true);
  }

  private static void unmount(Path mountPoint, boolean lazy) throws IOException {
    if (KernelSession.isRoot()) {
      try {
        KernelSession.unmount(mountPoint, lazy, Posix.get());
      } catch (ErrnoException e) {
        throw new CbtfsException("cannot unmount " + mountPoint + ": " + e.getMessage());
      }
      return;
    }
    runFusermount(lazy ? List.of("-u", "-z") : List.of("-u"), mountPoint);
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
