package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Every change the tracker makes to its persistent state (state files, activity logs, their temp
 * files and their directory) goes through this interface, so that a test can record the sequence of
 * writes and barriers and rebuild every state a crash may leave (docs/STATE.md explains the
 * ordering). {@link FileStateIo} is the real one. Implementations are thread-safe.
 */
public interface StateIo {
  /**
   * The whole content of {@code file}.
   *
   * @throws java.nio.file.NoSuchFileException if it does not exist
   */
  byte[] read(Path file) throws IOException;

  /** Whether {@code file} exists now. */
  boolean exists(Path file) throws IOException;

  /** Creates or truncates {@code file} and writes {@code bytes} into it; not durable. */
  void write(Path file, byte[] bytes) throws IOException;

  /** Writes {@code bytes} at {@code position} of an existing {@code file}; not durable. */
  void writeAt(Path file, long position, byte[] bytes) throws IOException;

  /** Makes {@code file}'s data (and with {@code dataOnly} false, its metadata) durable. */
  void fsync(Path file, boolean dataOnly) throws IOException;

  /** Renames {@code from} over {@code to} atomically; not durable until the directory is synced. */
  void rename(Path from, Path to) throws IOException;

  /** Removes {@code file} if it exists; not durable until the directory is synced. */
  void delete(Path file) throws IOException;

  /** Makes the names in {@code dir} (creates, renames, removes) durable. */
  void fsyncDirectory(Path dir) throws IOException;
}
