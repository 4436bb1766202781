package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Replaces a small file atomically and durably: write {@code NAME.tmp}, force it, rename it over
 * {@code NAME}, fsync the folder. A failure before the rename leaves the old file as it was; after
 * a crash the file holds the old bytes or the new ones, never a mix. Every operation goes through
 * the {@link Path}'s own file system. The tracker's state files take the same steps through {@link
 * StateIo}, where the power-loss simulator sees them.
 *
 * <p>Thread safety: callers that replace the same file concurrently must serialise (they share the
 * temp name).
 */
public final class AtomicFile {
  private AtomicFile() {}

  /**
   * Makes {@code bytes} the durable content of {@code file}.
   *
   * @throws IOException if any step fails, or if the temp name is a symbolic link (it is not
   *     followed: the bytes would land wherever it points)
   */
  public static void replace(Path file, byte[] bytes) throws IOException {
    Path temp = file.resolveSibling(file.getFileName() + StateFileNames.TEMP_SUFFIX);
    try {
      try (FileChannel out =
          FileChannel.open(
              temp,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING,
              LinkOption.NOFOLLOW_LINKS)) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
          out.write(b);
        }
        out.force(true); // the bytes are on disk before the name points at them
      }
      Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException | RuntimeException e) {
      try { // a temp a full disk left half-written is of no use to anyone
        if (!Files.isSymbolicLink(temp)) {
          Files.deleteIfExists(temp);
        }
      } catch (IOException | RuntimeException again) {
        e.addSuppressed(again);
      }
      throw e;
    }
    FileStateIo.INSTANCE.fsyncDirectory(file.toAbsolutePath().getParent()); // the rename is too
  }
}
