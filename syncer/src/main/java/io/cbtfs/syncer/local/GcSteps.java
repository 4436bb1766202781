package io.cbtfs.syncer.local;

import io.cbtfs.tracker.FileStateIo;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The file steps of an archive gc ({@link ArchiveGc}), one call each, in the order that keeps every
 * listed generation restorable: a test stops a gc after any of them and checks what it left. {@link
 * #REAL} is the file system's.
 */
interface GcSteps {
  /** Creates {@code file} (emptied if it exists) for writing the folded delta. */
  FileChannel create(Path file) throws IOException;

  /** Makes what was written into {@code channel} ({@code file}) and its metadata durable. */
  void force(FileChannel channel, Path file) throws IOException;

  /** Renames {@code from} over {@code to} atomically; durable once the folder is synced. */
  void rename(Path from, Path to) throws IOException;

  /** Removes {@code file} if it exists; durable once the folder is synced. */
  void delete(Path file) throws IOException;

  /** Makes the names in {@code dir} durable. */
  void fsyncDirectory(Path dir) throws IOException;

  GcSteps REAL =
      new GcSteps() {
        @Override
        public FileChannel create(Path file) throws IOException {
          return FileChannel.open(
              file,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING,
              LinkOption.NOFOLLOW_LINKS);
        }

        @Override
        public void force(FileChannel channel, Path file) throws IOException {
          channel.force(true);
        }

        @Override
        public void rename(Path from, Path to) throws IOException {
          Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }

        @Override
        public void delete(Path file) throws IOException {
          Files.deleteIfExists(file);
        }

        @Override
        public void fsyncDirectory(Path dir) throws IOException {
          FileStateIo.INSTANCE.fsyncDirectory(dir);
        }
      };
}
