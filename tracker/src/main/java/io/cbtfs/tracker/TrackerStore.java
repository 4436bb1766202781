package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tracking state of every image of one mount, kept in a state directory ({@link
 * StateDirectory}) that only one mount may hold at a time ({@code lock}). Per image: {@code
 * NAME.cbt}, the saved dirty set, replaced atomically (temp file, fsync, rename, fsync of the
 * directory); and {@code NAME.alog}, its {@link ActivityLog}. A name too long for those file names
 * has them named by its hash ({@link StateFileNames}).
 *
 * <p>Recovery rule (docs/STATE.md): a clean state is trusted unless the backing file's fingerprint
 * changed (then everything is dirty); an unclean one yields its saved bitmap plus every block of
 * every extent its activity log names. A state that fails its checks is refused, or with {@code
 * resetTracking} replaced by "everything dirty" under a new lineage. Never "assume clean".
 *
 * <p>Thread safety: all methods may be called from any thread.
 */
public final class TrackerStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrackerStore.class);
  static final String SUFFIX = ".cbt";
  static final String LOG_SUFFIX = ".alog";

  private final Path stateDir;
  private final TrackingOptions options;
  private final StateIo io;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final Map<String, TrackedImage> images = new ConcurrentHashMap<>();
  private boolean closed;

  private TrackerStore(
      Path stateDir, TrackingOptions options, StateIo io, FileChannel lockChannel, FileLock lock) {
    this.stateDir = stateDir;
    this.options = options;
    this.io = io;
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
    return stateDir;
  }

  static Path stateFile(Path stateDir, String imageName) {
    return StateFileNames.file(stateDir, imageName, SUFFIX);
  }

  static Path logFile(Path stateDir, String imageName) {
    return StateFileNames.file(stateDir, imageName, LOG_SUFFIX);
  }

  /** The state file's bytes for {@code state}: naming the image when the file name cannot. */
  private static byte[] encode(String imageName, TrackerState state) {
    return StateFileNames.isLong(imageName, SUFFIX) ? state.encode(imageName) : state.encode();
  }

  /**
   * Reads the saved state of an image without taking the lock (for status when nothing is mounted).
   *
   * @return empty when the image has never been tracked here
   * @throws CorruptStateException if the file is corrupt
   */
  public static Optional<TrackerState> readState(Path stateDir, String imageName)
      throws IOException {
    return readState(FileStateIo.INSTANCE, stateDir, imageName);
  }

  static Optional<TrackerState> readState(StateIo io, Path stateDir, String imageName)
      throws IOException {
    Path file = stateFile(stateDir, imageName);
    try {
      return Optional.of(TrackerState.decode(io.read(file), file.toString(), imageName));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /**
   * What recovery makes of a saved state, without serving it.
   *
   * @param dirty the blocks marked dirty: the saved bitmap, plus after an unclean stop every block
   *     of the extents the activity log names
   * @param verifyNextSync whether the next sync must compare every block with its target: the state
   *     asks for it, or the activity log had a damaged slot and cannot bound what changed
   */
  public record Recovered(DirtySet dirty, boolean verifyNextSync) {}

  /**
   * What recovery would find for a saved state (for status when nothing is mounted).
   *
   * @throws CorruptStateException if the state is unclean and its activity log unreadable
   */
  public static Recovered recovered(Path stateDir, String imageName, TrackerState state)
      throws IOException {
    return recovered(FileStateIo.INSTANCE, stateDir, imageName, state);
  }

  /**
   * What a mount would recover for {@code imageName} from the state behind {@code io}: the rule of
   * {@link #image} without serving anything (what the crash simulator checks).
   *
   * @return empty when the image has no state
   * @throws CorruptStateException if the state cannot be trusted
   */
  public static Optional<Recovered> recover(StateIo io, Path stateDir, String imageName)
      throws IOException {
    Optional<TrackerState> state = readState(io, stateDir, imageName);
    if (state.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(recovered(io, stateDir, imageName, state.get()));
  }

  private static Recovered recovered(
      StateIo io, Path stateDir, String imageName, TrackerState state) throws IOException {
    if (state.clean()) {
      return new Recovered(state.dirty(), state.verifyNextSync());
    }
    ActivityLog.Contents log = readLog(io, stateDir, imageName, state);
    DirtySet logged = log.blocks(state.geometry());
    return new Recovered(
        state.dirty().union(logged.within(state.imageSize())),
        state.verifyNextSync() || log.damagedSlot());
  }

  private static ActivityLog.Contents readLog(
      StateIo io, Path stateDir, String imageName, TrackerState state) throws IOException {
    Path file = logFile(stateDir, imageName);
    byte[] bytes;
    try {
      bytes = io.read(file);
    } catch (NoSuchFileException e) {
      bytes = new byte[0];
    }
    return ActivityLog.read(bytes, state.lineage())
        .orElseThrow(
            () ->
                new CorruptStateException(
                    file.toString(), "activity log missing or unreadable after an unclean stop"));
  }

  /** The image if it is loaded. */
  public Optional<TrackedImage> loaded(String imageName) {
    return Optional.ofNullable(images.get(imageName));
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
    long size = Math.max(0, current.size());
    TrackerState state;
    ActivityLog.Contents contents = null; // what the log holds, after an unclean stop
    try {
      Optional<TrackerState> saved = readState(io, stateDir, imageName);
      if (saved.isEmpty()) {
        return start(imageName, current, TrackedImage.Recovery.Kind.NEW);
      }
      state = saved.get();
      if (!state.clean()) {
        contents = readLog(io, stateDir, imageName, state);
      }
    } catch (CorruptStateException e) {
      if (!options.resetTracking()) {
        throw e;
      }
      log.warn("{}; resetting tracking of {}", e.getMessage(), imageName);
      return start(imageName, current, TrackedImage.Recovery.Kind.RESET);
    }
    DirtyTracker tracker =
        new DirtyTracker(state.geometry(), state.committedGeneration(), state.issuedGeneration());
    tracker.markAll(state.dirty());
    TrackedImage.Recovery recovery;
    if (contents != null) {
      long before = tracker.dirtyBlockCount();
      tracker.markAll(contents.blocks(state.geometry()).within(Math.max(size, state.imageSize())));
      // A damaged slot may have been the newer one, naming extents the valid one does not: the
      // log cannot bound what changed, so the next sync compares (docs/STATE.md, step 4).
      recovery =
          new TrackedImage.Recovery(
              contents.damagedSlot()
                  ? TrackedImage.Recovery.Kind.UNCLEAN_DAMAGED_LOG
                  : TrackedImage.Recovery.Kind.UNCLEAN,
              tracker.dirtyBlockCount() - before,
              contents.extents().length);
    } else if (state.fingerprint().contradicts(current)) {
      // Something wrote the file while it was not served: no bitmap can say what. The next sync
      // compares every block with the target and sends what differs.
      recovery = new TrackedImage.Recovery(TrackedImage.Recovery.Kind.CHANGED_OUTSIDE, 0, 0);
    } else {
      recovery = new TrackedImage.Recovery(TrackedImage.Recovery.Kind.CLEAN, 0, 0);
    }
    if (recovery.kind() != TrackedImage.Recovery.Kind.CLEAN) {
      log.warn("{}: {}", imageName, recovery.describe());
    }
    TrackedImage image = new TrackedImage(imageName, state.lineage(), tracker, recovery, size);
    if (state.verifyNextSync() || recovery.requiresVerifiedSync()) {
      image.requireVerifiedSync();
    }
    serve(image, contents == null ? 0 : contents.sequence(), current);
    return image;
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
            new TrackedImage.Recovery(kind, resync, 0),
            size);
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
    persist(image, true, current);
    int extentSize = Math.max(options.extentSize(), image.tracker().geometry().blockSize());
    ActivityLog.Evictions durableBits = () -> persist(image, false);
    ActivityLog activityLog =
        ActivityLog.create(
            io,
            logFile(stateDir, image.name()),
            image.lineage(),
            extentSize,
            options.maxHotExtents(),
            logSequence,
            durableBits);
    image.attach(activityLog, durableBits);
    persist(image, false);
  }

  /**
   * Moves an image's tracking with a rename of the image; the target name's tracking is dropped.
   */
  public synchronized void rename(String from, String to) throws IOException {
    retire(images.remove(to));
    TrackedImage image = images.remove(from);
    if (image == null || image.log() == null) {
      renameFiles(from, to, image);
    } else {
      // The log's lock, then the image's monitor: the order an eviction takes them, so no slot
      // write and no save reaches the old names while the files move.
      image
          .log()
          .locked(
              () -> {
                synchronized (image) {
                  renameFiles(from, to, image);
                  image.log().relocate(logFile(stateDir, to));
                }
              });
    }
    if (image != null) {
      images.put(to, image);
    }
    syncDirectory();
  }

  private void renameFiles(String from, String to, TrackedImage image) throws IOException {
    for (String suffix : new String[] {SUFFIX, LOG_SUFFIX}) {
      Path source = StateFileNames.file(stateDir, from, suffix);
      Path target = StateFileNames.file(stateDir, to, suffix);
      if (!io.exists(source)) {
        io.delete(target);
      } else if (suffix.equals(SUFFIX)
          && (StateFileNames.isLong(from, SUFFIX) || StateFileNames.isLong(to, SUFFIX))) {
        // a state file named by a hash holds its image's name: write it again under the new one
        byte[] bytes = io.read(source);
        TrackerState state = TrackerState.decode(bytes, source.toString(), from);
        writeAtomically(target, encode(to, state));
        io.delete(source);
      } else {
        io.rename(source, target);
      }
    }
    if (image != null) {
      image.rename(to);
    }
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

  /** Forgets an image that was deleted. */
  public synchronized void remove(String imageName) throws IOException {
    retire(images.remove(imageName));
    io.delete(stateFile(stateDir, imageName));
    io.delete(logFile(stateDir, imageName));
    syncDirectory();
  }

  /** Names of the images with a state file here. */
  public static List<String> trackedNames(Path stateDir) throws IOException {
    List<String> names = new ArrayList<>();
    if (!Files.isDirectory(stateDir)) {
      return names;
    }
    try (var files = Files.list(stateDir)) {
      for (Path file : (Iterable<Path>) files::iterator) {
        String n = file.getFileName().toString();
        if (n.endsWith(SUFFIX) && n.length() > SUFFIX.length()) {
          names.add(n.substring(0, n.length() - SUFFIX.length()));
        } else if (n.endsWith(SUFFIX + StateFileNames.LONG_MARK)) {
          String name = TrackerState.storedName(Files.readAllBytes(file), file.toString());
          if (name != null) {
            names.add(name);
          }
        }
      }
    }
    names.sort(null);
    return names;
  }

  /** Writes the image's current dirty set (unclean): after a commit, or to bound a crash. */
  public void persist(TrackedImage image) throws IOException {
    persist(image, false);
  }

  private void persist(TrackedImage image, boolean clean) throws IOException {
    persist(image, clean, Fingerprint.UNKNOWN);
  }

  private void persist(TrackedImage image, boolean clean, Fingerprint fingerprint)
      throws IOException {
    synchronized (image) {
      if (image.isDetached()) {
        return; // deleted or replaced: its name belongs to another file now
      }
      DirtyTracker tracker = image.tracker();
      // Snapshot before generation: a commit in between leaves the new generation with a
      // superset of its dirty set; the other order could pair an old generation with blocks a
      // commit already cleared, and a target still at that generation would miss them.
      DirtySet dirty = tracker.snapshot();
      long generation = tracker.committedGeneration();
      long issued = tracker.issuedGeneration();
      long size = fingerprint.size() >= 0 ? fingerprint.size() : image.knownSize();
      TrackerState state =
          new TrackerState(
              image.lineage(),
              tracker.geometry(),
              size,
              generation,
              issued,
              clean,
              image.verifyNextSync(),
              fingerprint,
              dirty);
      writeAtomically(stateFile(stateDir, image.name()), encode(image.name(), state));
    }
  }

  /** Temp file, fsync, rename over the old one, fsync of the directory. */
  private void writeAtomically(Path file, byte[] bytes) throws IOException {
    Path temp = file.resolveSibling(file.getFileName() + StateFileNames.TEMP_SUFFIX);
    io.write(temp, bytes);
    io.fsync(temp, false);
    io.rename(temp, file);
    syncDirectory();
  }

  private void syncDirectory() throws IOException {
    io.fsyncDirectory(stateDir);
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
        persist(image, fp != null, fp == null ? Fingerprint.UNKNOWN : fp);
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
