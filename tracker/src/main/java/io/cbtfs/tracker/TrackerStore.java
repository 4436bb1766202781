package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tracking state of every image of one mount, kept in a state directory (0700) that only one
 * mount may hold at a time ({@code lock}). One file per image, {@code NAME.cbt}, replaced
 * atomically (temp file, fsync, rename, fsync of the directory).
 *
 * <p>On load an image's file is rewritten as unclean before it is served, so a crash is never read
 * as a clean stop. {@link #close} writes every image's dirty set with the clean flag.
 *
 * <p>Thread safety: all methods may be called from any thread.
 */
public final class TrackerStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TrackerStore.class);
  static final String SUFFIX = ".cbt";

  private final Path stateDir;
  private final BlockGeometry geometry;
  private final boolean resetTracking;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final Map<String, TrackedImage> images = new ConcurrentHashMap<>();
  private boolean closed;

  private TrackerStore(
      Path stateDir,
      BlockGeometry geometry,
      boolean resetTracking,
      FileChannel lockChannel,
      FileLock lock) {
    this.stateDir = stateDir;
    this.geometry = geometry;
    this.resetTracking = resetTracking;
    this.lockChannel = lockChannel;
    this.lock = lock;
  }

  /**
   * Opens (creating if needed) a state directory and takes its lock.
   *
   * @param geometry block size for images tracked for the first time
   * @param resetTracking replace corrupt or unclean state by "every block dirty" under a new
   *     lineage
   * @throws CbtfsException if another process holds the directory
   */
  public static TrackerStore open(Path stateDir, BlockGeometry geometry, boolean resetTracking)
      throws IOException {
    if (!Files.isDirectory(stateDir)) {
      Files.createDirectories(stateDir);
    }
    Files.setPosixFilePermissions(stateDir, PosixFilePermissions.fromString("rwx------"));
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
    return new TrackerStore(stateDir, geometry, resetTracking, channel, lock);
  }

  public Path stateDir() {
    return stateDir;
  }

  static Path stateFile(Path stateDir, String imageName) {
    return stateDir.resolve(imageName + SUFFIX);
  }

  /**
   * Reads the persisted state of an image without taking the lock (for status when nothing is
   * mounted).
   *
   * @return empty when the image has never been tracked here
   * @throws CorruptStateException if the file is corrupt
   */
  public static Optional<TrackerState> readState(Path stateDir, String imageName)
      throws IOException {
    Path file = stateFile(stateDir, imageName);
    try {
      return Optional.of(TrackerState.decode(Files.readAllBytes(file), file.toString()));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /** The image if it is loaded. */
  public Optional<TrackedImage> loaded(String imageName) {
    return Optional.ofNullable(images.get(imageName));
  }

  /**
   * The tracking of an image, loaded from its state file (or started) on first use.
   *
   * @param imageSize the backing file's size now, for recovery that marks the whole image
   * @throws CorruptStateException if the state is corrupt and tracking is not being reset
   */
  public TrackedImage image(String imageName, long imageSize) throws IOException {
    TrackedImage image = images.get(imageName);
    if (image != null) {
      return image;
    }
    synchronized (this) {
      ensureOpen();
      image = images.get(imageName);
      if (image == null) {
        image = load(imageName, imageSize);
        images.put(imageName, image);
      }
      return image;
    }
  }

  private TrackedImage load(String imageName, long imageSize) throws IOException {
    Optional<TrackerState> persisted;
    try {
      persisted = readState(stateDir, imageName);
    } catch (CorruptStateException e) {
      if (!resetTracking) {
        throw e;
      }
      log.warn("{}; resetting tracking of {}", e.getMessage(), imageName);
      persisted = Optional.empty();
      return start(imageName, imageSize, TrackedImage.Recovery.Kind.RESET);
    }
    if (persisted.isEmpty()) {
      return start(imageName, imageSize, TrackedImage.Recovery.Kind.NEW);
    }
    TrackerState state = persisted.get();
    DirtyTracker tracker = new DirtyTracker(state.geometry(), state.committedGeneration());
    tracker.markAll(state.dirty());
    TrackedImage.Recovery recovery;
    if (state.clean()) {
      recovery = new TrackedImage.Recovery(TrackedImage.Recovery.Kind.CLEAN, 0);
    } else {
      // Without an activity log nothing bounds what changed after the last write of this file.
      DirtySet all = DirtySet.allOf(state.geometry(), Math.max(imageSize, state.imageSize()));
      long before = tracker.dirtyBlockCount();
      tracker.markAll(all);
      recovery =
          new TrackedImage.Recovery(
              TrackedImage.Recovery.Kind.UNCLEAN, tracker.dirtyBlockCount() - before);
      log.warn("{}: {}", imageName, recovery.describe());
    }
    TrackedImage image = new TrackedImage(state.lineage(), tracker, recovery);
    persist(imageName, image, imageSize, false);
    return image;
  }

  private TrackedImage start(String imageName, long imageSize, TrackedImage.Recovery.Kind kind)
      throws IOException {
    DirtyTracker tracker = new DirtyTracker(geometry);
    long resync = 0;
    if (kind == TrackedImage.Recovery.Kind.RESET) {
      tracker.markAll(DirtySet.allOf(geometry, imageSize));
      resync = tracker.dirtyBlockCount();
    }
    TrackedImage image =
        new TrackedImage(UUID.randomUUID(), tracker, new TrackedImage.Recovery(kind, resync));
    persist(imageName, image, imageSize, false);
    return image;
  }

  /**
   * Moves an image's tracking with a rename of the image; the target name's tracking is dropped.
   */
  public synchronized void rename(String from, String to) throws IOException {
    TrackedImage image = images.remove(from);
    images.remove(to);
    Path source = stateFile(stateDir, from);
    if (Files.exists(source)) {
      atomicMove(source, stateFile(stateDir, to));
    } else {
      Files.deleteIfExists(stateFile(stateDir, to));
    }
    if (image != null) {
      images.put(to, image);
    }
    syncDirectory();
  }

  /** Forgets an image that was deleted. */
  public synchronized void remove(String imageName) throws IOException {
    images.remove(imageName);
    Files.deleteIfExists(stateFile(stateDir, imageName));
    syncDirectory();
  }

  /** Names of the images with a state file here. */
  public static List<String> trackedNames(Path stateDir) throws IOException {
    List<String> names = new ArrayList<>();
    if (!Files.isDirectory(stateDir)) {
      return names;
    }
    try (var files = Files.list(stateDir)) {
      files
          .map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(SUFFIX) && n.length() > SUFFIX.length())
          .forEach(n -> names.add(n.substring(0, n.length() - SUFFIX.length())));
    }
    names.sort(null);
    return names;
  }

  /** Writes the image's current dirty set, with the clean flag as given. */
  public void persist(String imageName, TrackedImage image, long imageSize, boolean clean)
      throws IOException {
    DirtyTracker tracker = image.tracker();
    // Generation before snapshot: a commit in between leaves a superset, never a gap.
    long generation = tracker.committedGeneration();
    TrackerState state =
        new TrackerState(
            image.lineage(), tracker.geometry(), imageSize, generation, clean, tracker.snapshot());
    writeAtomically(stateFile(stateDir, imageName), state.encode());
  }

  private void writeAtomically(Path file, byte[] bytes) throws IOException {
    Path temp = file.resolveSibling(file.getFileName() + ".tmp");
    try (FileChannel out =
        FileChannel.open(
            temp,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      out.write(java.nio.ByteBuffer.wrap(bytes));
      out.force(true);
    }
    atomicMove(temp, file);
    syncDirectory();
  }

  private static void atomicMove(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("state directory does not support atomic rename: " + to, e);
    }
  }

  private void syncDirectory() throws IOException {
    try (FileChannel dir = FileChannel.open(stateDir, StandardOpenOption.READ)) {
      dir.force(true);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("tracker store closed");
    }
  }

  /**
   * Persists every loaded image as clean, given the sizes of the backing files now. Images whose
   * size is unknown keep their unclean mark.
   */
  public synchronized void closeClean(Map<String, Long> imageSizes) throws IOException {
    if (closed) {
      return;
    }
    IOException failure = null;
    for (Map.Entry<String, TrackedImage> e : images.entrySet()) {
      Long size = imageSizes.get(e.getKey());
      try {
        persist(e.getKey(), e.getValue(), size == null ? 0 : size, size != null);
      } catch (IOException ex) {
        failure = ex;
        log.error("cannot persist tracking of {}: {}", e.getKey(), ex.getMessage());
      }
    }
    close();
    if (failure != null) {
      throw failure;
    }
  }

  /** Releases the lock. Does not persist: see {@link #closeClean}. Idempotent. */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      lock.release();
    } finally {
      lockChannel.close();
    }
  }
}
