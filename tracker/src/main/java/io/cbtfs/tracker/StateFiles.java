package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The files of one state directory, every change through a {@link StateIo}. Per image: {@code
 * NAME.cbt}, the saved {@link TrackerState}, replaced atomically (temp file, fsync, rename, fsync
 * of the directory); and {@code NAME.alog}, its {@link ActivityLog}. A name too long for those file
 * names has them named by its hash ({@link StateFileNames}). What they hold: docs/STATE.md.
 *
 * <p>Thread safety: stateless beyond the directory; callers keep one image's writes in order.
 */
public final class StateFiles {
  static final String SUFFIX = ".cbt";
  static final String LOG_SUFFIX = ".alog";

  private final StateIo io;
  private final Path dir;

  StateFiles(StateIo io, Path dir) {
    this.io = io;
    this.dir = dir;
  }

  Path dir() {
    return dir;
  }

  StateIo io() {
    return io;
  }

  Path stateFile(String imageName) {
    return StateFileNames.file(dir, imageName, SUFFIX);
  }

  Path logFile(String imageName) {
    return StateFileNames.file(dir, imageName, LOG_SUFFIX);
  }

  /**
   * Reads the saved state of an image without taking the state directory's lock (for status when
   * nothing is mounted).
   *
   * @return empty when the image has never been tracked here
   * @throws CorruptStateException if the file is corrupt
   */
  public static Optional<TrackerState> readState(Path stateDir, String imageName)
      throws IOException {
    return new StateFiles(FileStateIo.INSTANCE, stateDir).read(imageName);
  }

  /** The saved state of {@code imageName}; empty when there is none. */
  Optional<TrackerState> read(String imageName) throws IOException {
    Path file = stateFile(imageName);
    try {
      return Optional.of(TrackerState.decode(io.read(file), file.toString(), imageName));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /**
   * The activity log of an image whose saved {@code state} is unclean.
   *
   * @throws CorruptStateException if it is missing or neither slot is valid
   */
  ActivityLog.Contents readLog(String imageName, TrackerState state) throws IOException {
    Path file = logFile(imageName);
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

  /** Replaces the saved state of {@code imageName} atomically and durably. */
  void write(String imageName, TrackerState state) throws IOException {
    writeAtomically(stateFile(imageName), encode(imageName, state));
  }

  /** The state file's bytes for {@code state}: naming the image when the file name cannot. */
  private static byte[] encode(String imageName, TrackerState state) {
    return StateFileNames.isLong(imageName, SUFFIX) ? state.encode(imageName) : state.encode();
  }

  /**
   * Moves both files of {@code from} to the names of {@code to} (a file {@code from} lacks is
   * removed under {@code to}); not durable until {@link #syncDirectory}.
   */
  void rename(String from, String to) throws IOException {
    for (String suffix : new String[] {SUFFIX, LOG_SUFFIX}) {
      Path source = StateFileNames.file(dir, from, suffix);
      Path target = StateFileNames.file(dir, to, suffix);
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
  }

  /** Removes both files of {@code imageName}, durably. */
  void delete(String imageName) throws IOException {
    io.delete(stateFile(imageName));
    io.delete(logFile(imageName));
    syncDirectory();
  }

  /** Temp file, fsync, rename over the old one, fsync of the directory. */
  private void writeAtomically(Path file, byte[] bytes) throws IOException {
    Path temp = file.resolveSibling(file.getFileName() + StateFileNames.TEMP_SUFFIX);
    io.write(temp, bytes);
    io.fsync(temp, false);
    io.rename(temp, file);
    syncDirectory();
  }

  void syncDirectory() throws IOException {
    io.fsyncDirectory(dir);
  }

  /** Names of the images with a state file in {@code stateDir}, sorted. */
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
}
