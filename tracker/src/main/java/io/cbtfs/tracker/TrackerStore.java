package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry of the images one mount serves: each loaded on first use from its {@link StateFiles}
 * through {@link StateRecovery}, then served as a {@link TrackedImage}, in a state directory
 * ({@link StateDirectory}) that only one mount may hold at a time ({@code lock}). A state that
 * fails its checks is refused, or with {@code resetTracking} replaced by "everything dirty" under a
 * new lineage.
 *
 * <p>Thread safety: all methods may be called from any thread (lock order: package-info).
 */
public final class TrackerStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrackerStore.class);
  private final StateFiles files;
  private final TrackingOptions options;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final Map<String, TrackedImage> images = new ConcurrentHashMap<>();
  private boolean closed;

  private TrackerStore(
      Path stateDir, TrackingOptions options, StateIo io, FileChannel lockChannel, FileLock lock) {
    this.files = new StateFiles(io, stateDir);
    this.options = options;
    this.lockChannel = lockChannel;
    this.lock = lock;
  }

  /**
   * Opens a state directory (creating it 0700 if it is missing; an existing one must be this user's
   * and writable by no one else, see {@link StateDirectory}) and takes its lock.
   *
   * @throws CbtfsException if another process holds the directory, or it is not safe to use
   */
  public static TrackerStore open(Path stateDir, TrackingOptions options) throws IOException {
    return open(stateDir, options, FileStateIo.INSTANCE);
  }

  /** {@link #open(Path, TrackingOptions)} with every state write going through {@code io}. */
  public static TrackerStore open(Path stateDir, TrackingOptions options, StateIo io)
      throws IOException {
    StateDirectory.prepare(stateDir);
    FileChannel channel =
        FileChannel.open(
            stateDir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = channel.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      channel.close();
      throw new CbtfsException("state directory " + stateDir + " is in use by another cbtfs mount");
    }
    return new TrackerStore(stateDir, options, io, channel, lock);
  }

  public Path stateDir() {
    return files.dir();
  }

  /** The image if it is loaded. */
  public Optional<TrackedImage> loaded(String imageName) {
    return Optional.ofNullable(images.get(imageName));
  }

  /** The images loaded so far, by name: what a scrape of the mount's metrics reports. */
  public List<TrackedImage> images() {
    List<TrackedImage> loaded = new ArrayList<>(images.values());
    loaded.sort(Comparator.comparing(TrackedImage::name));
    return loaded;
  }

  /**
   * The tracking of an image, loaded from its state (and recovered) on first use.
   *
   * @param current the backing file now: its size, and the fingerprint that detects writes made
   *     while it was not served
   * @throws CorruptStateException if the state is corrupt and tracking is not being reset
   */
  public TrackedImage image(String imageName, Fingerprint current) throws IOException {
    return image(imageName, () -> current);
  }

  /** The backing file's fingerprint, taken only when an image is loaded (not on every open). */
  @FunctionalInterface
  public interface FingerprintSource {
    Fingerprint get() throws IOException;
  }

  /** {@link #image(String, Fingerprint)}, stat-ing the backing file only if it is not loaded. */
  public TrackedImage image(String imageName, FingerprintSource current) throws IOException {
    TrackedImage image = images.get(imageName);
    if (image != null) {
      return image;
    }
    synchronized (this) {
      ensureOpen();
      image = images.get(imageName);
      if (image == null) {
        image = load(imageName, current.get());
        images.put(imageName, image);
      }
      return image;
    }
  }

  private TrackedImage load(String imageName, Fingerprint current) throws IOException {
    TrackerState state;
    ActivityLog.Contents activity = null; // what the log holds, after an unclean stop
    try {
      Optional<TrackerState> saved = files.read(imageName);
      if (saved.isEmpty()) {
        return start(imageName, current, TrackedImage.Recovery.Kind.NEW);
      }
      state = saved.get();
      if (!state.clean()) {
        activity = files.readLog(imageName, state);
      }
    } catch (CorruptStateException e) {
      if (!options.resetTracking()) {
        throw e;
      }
      log.warn("{}; resetting tracking of {}", e.getMessage(), imageName);
      return start(imageName, current, TrackedImage.Recovery.Kind.RESET);
    }
    StateRecovery.Recovered recovered = StateRecovery.recover(state, activity, current);
    if (recovered.recovery().kind() != TrackedImage.Recovery.Kind.CLEAN) {
      log.warn("{}: {}", imageName, recovered.recovery().describe());
    }
    DirtyTracker tracker = new DirtyTracker(state.geometry());
    tracker.markAll(recovered.dirty());
    TrackedImage image =
        new TrackedImage(
            imageName,
            state.lineage(),
            tracker,
            loadedHistory(state),
            recovered.recovery(),
            Math.max(0, current.size()),
            files,
            options.cursors());
    if (recovered.recovery().requiresVerifiedSync()) {
      image.requireVerifiedSync();
    }
    serve(image, activity == null ? 0 : activity.sequence(), current);
    return image;
  }

  /**
   * The saved history, to skip a random 2^20 to 2^21 numbers at its first sync: this mount issues
   * no earlier run of the same saved state issued, so a target synced by such a run (the state put
   * back from a copy, the host rolled back to a snapshot) holds a number this history never issued
   * and is compared, never sent a delta meant for other contents.
   */
  private static ChangeHistory loadedHistory(TrackerState state) {
    ChangeHistory history = new ChangeHistory(state.geometry(), state.history());
    history.skipAheadAtNextSeal(ThreadLocalRandom.current().nextLong(1L << 20, 1L << 21));
    return history;
  }

  private TrackedImage start(String imageName, Fingerprint current, TrackedImage.Recovery.Kind kind)
      throws IOException {
    long size = Math.max(0, current.size());
    DirtyTracker tracker = new DirtyTracker(options.geometry());
    long resync = 0;
    if (kind == TrackedImage.Recovery.Kind.RESET) {
      tracker.markAll(DirtySet.allOf(options.geometry(), size));
      resync = tracker.dirtyBlockCount();
    }
    TrackedImage image =
        new TrackedImage(
            imageName,
            UUID.randomUUID(),
            tracker,
            new ChangeHistory(options.geometry(), ChangeHistory.Saved.of(0, 0, false)),
            new TrackedImage.Recovery(kind, resync, 0),
            size,
            files,
            options.cursors());
    serve(image, 0, current);
    return image;
  }

  /**
   * Makes an image ready for writes, in an order that a crash at any point survives: (1) the state
   * with everything loading found dirty, marked clean with the file's fingerprint now: it is
   * complete, as this mount has served no write yet; (2) a fresh, empty activity log; (3) the state
   * marked unclean, from which on writes may be served. A crash before (3) is durable leaves a
   * clean state that needs no log (the crash simulator found that an unclean state there could meet
   * a log whose name was not yet durable, and refuse to mount).
   */
  private void serve(TrackedImage image, long logSequence, Fingerprint current) throws IOException {
    image.save(true, current);
    int extentSize = Math.max(options.extentSize(), image.tracker().geometry().blockSize());
    ActivityLog activityLog =
        ActivityLog.create(
            files.io(),
            files.logFile(image.name()),
            image.lineage(),
            extentSize,
            options.maxHotExtents(),
            logSequence,
            image::save);
    image.attach(activityLog);
    image.save();
  }

  /**
   * Moves an image's tracking with a rename of the image; the target name's tracking is dropped.
   */
  public synchronized void rename(String from, String to) throws IOException {
    retire(images.remove(to));
    TrackedImage image = images.remove(from);
    if (image == null || image.log() == null) {
      files.rename(from, to);
      if (image != null) {
        image.rename(to);
      }
    } else {
      // The log's lock, then the image's monitor: the order an eviction takes them, so no slot
      // write and no save reaches the old names while the files move.
      image
          .log()
          .locked(
              () -> {
                synchronized (image) {
                  files.rename(from, to);
                  image.rename(to);
                  image.log().relocate(files.logFile(to));
                }
              });
    }
    if (image != null) {
      images.put(to, image);
    }
    files.syncDirectory();
  }

  /** Ends the tracking of an image that is gone (renamed over, deleted); null: nothing to do. */
  private static void retire(TrackedImage image) throws IOException {
    if (image == null) {
      return;
    }
    synchronized (image) { // no save of the image runs or starts from here
      image.detach();
    }
    if (image.log() != null) {
      image.log().close();
    }
  }

  /**
   * Starts the tracking of an image that holds {@code target}'s generation {@code generation} of
   * image lineage {@code lineage} with the blocks of {@code changed} written over it (a hydrated
   * overlay moved into the folder): the saved state carries that lineage, a cursor of the target at
   * that generation and {@code changed} as dirty, so the first sync back to the target is
   * incremental. The image must not be loaded; its state is saved clean with {@code current}.
   *
   * @param verify whether that first sync must compare every block with the target all the same
   *     (nothing vouches that {@code changed} holds every block that differs from the generation)
   * @throws CbtfsException if the image is tracked here already
   */
  public synchronized void adopt(
      String imageName,
      UUID lineage,
      long generation,
      String target,
      DirtySet changed,
      Fingerprint current,
      boolean verify)
      throws IOException {
    ensureOpen();
    if (images.containsKey(imageName) || files.read(imageName).isPresent()) {
      throw new CbtfsException(
          "'" + imageName + "' is tracked in " + files.dir() + " already: choose another name");
    }
    ChangeHistory.Saved history =
        new ChangeHistory.Saved(
            generation,
            generation,
            verify ? generation + 1 : 0,
            new TreeMap<>(),
            List.of(new Cursor(target, generation, options.cursors().clock().instant())));
    files.write(
        imageName,
        new TrackerState(
            lineage, changed.geometry(), current.size(), true, current, changed, history));
  }

  /**
   * Saves {@code current} as the fingerprint of an image that is not loaded: its file was renamed
   * or linked by cbtfs itself (which changes its ctime) since the state was saved.
   *
   * @throws CbtfsException if the image is loaded or not tracked here
   */
  public synchronized void refingerprint(String imageName, Fingerprint current) throws IOException {
    ensureOpen();
    TrackerState saved = images.containsKey(imageName) ? null : files.read(imageName).orElse(null);
    if (saved == null) {
      throw new CbtfsException("'" + imageName + "' is not a saved image of " + files.dir());
    }
    files.write(
        imageName,
        new TrackerState(
            saved.lineage(),
            saved.geometry(),
            saved.imageSize(),
            saved.clean(),
            current,
            saved.dirty(),
            saved.history()));
  }

  /** Forgets an image that was deleted. */
  public synchronized void remove(String imageName) throws IOException {
    retire(images.remove(imageName));
    files.delete(imageName);
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("tracker store closed");
    }
  }

  /**
   * Saves every loaded image as clean, with the backing files' fingerprints now (no write may be in
   * flight: the FUSE loop has ended). Images without a fingerprint keep their unclean mark. Then
   * closes the store.
   */
  public synchronized void closeClean(Map<String, Fingerprint> fingerprints) throws IOException {
    if (closed) {
      return;
    }
    IOException failure = null;
    for (TrackedImage image : images.values()) {
      Fingerprint fp = fingerprints.get(image.name());
      try {
        image.save(fp != null, fp == null ? Fingerprint.UNKNOWN : fp);
      } catch (IOException ex) {
        failure = ex;
        log.error("cannot save tracking of {}: {}", image.name(), ex.getMessage());
      }
    }
    close();
    if (failure != null) {
      throw failure;
    }
  }

  /** Closes the activity logs and releases the lock. Does not save: see {@link #closeClean}. */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      for (TrackedImage image : images.values()) {
        if (image.log() != null) {
          image.log().close();
        }
      }
    } finally {
      try {
        lock.release();
      } finally {
        lockChannel.close();
      }
    }
  }
}
