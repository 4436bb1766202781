package io.cbtfs.syncer.local;

import io.cbtfs.syncer.PositionalFile;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The files of an archive folder that a reader uses ({@code archive.meta} and the generations'
 * deltas), wherever they are: in a folder of this host, or served by a receiver ({@code
 * cbtfs://…?archive}). {@link ArchiveReader} reads an archive through this alone, so a local and a
 * remote archive are read and checked by the same code. Thread-safe.
 */
public interface ArchiveFiles {
  String META = "archive.meta";

  /** A file of the archive as listed: its name in the folder, its length, when it was written. */
  record Listed(String name, long byteSize, Instant modified) {}

  /**
   * The archive's regular files that a reader uses ({@link #isServed}), in no order; none if the
   * folder does not exist.
   */
  List<Listed> list() throws IOException;

  /**
   * Opens file {@code name} of the archive for reading; the caller closes it.
   *
   * @throws NoSuchFileException if it is not there (any more)
   */
  PositionalFile open(String name) throws IOException;

  /** How a message names file {@code name} of the archive (a path, a URI). */
  String where(String name);

  /** Whether {@code name} is a file a reader uses: the metadata, or a generation's delta. */
  static boolean isServed(String name) {
    return META.equals(name) || ArchiveTarget.generationOf(name) >= 0;
  }

  /** The files of folder {@code dir} on this host. */
  static ArchiveFiles in(Path dir) {
    return new ArchiveFiles() {
      @Override
      public List<Listed> list() throws IOException {
        List<Listed> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
          return out;
        }
        try (var files = Files.list(dir)) {
          for (Path f : (Iterable<Path>) files::iterator) {
            String name = f.getFileName().toString();
            if (isServed(name)) {
              BasicFileAttributes a;
              try {
                a = Files.readAttributes(f, BasicFileAttributes.class);
              } catch (NoSuchFileException gone) {
                continue; // removed since the folder was listed
              }
              if (a.isRegularFile()) {
                out.add(new Listed(name, a.size(), a.lastModifiedTime().toInstant()));
              }
            }
          }
        }
        return out;
      }

      @Override
      public PositionalFile open(String name) throws IOException {
        return PositionalFile.of(FileChannel.open(dir.resolve(name), StandardOpenOption.READ));
      }

      @Override
      public String where(String name) {
        return dir.resolve(name).toString();
      }
    };
  }

  /**
   * {@link #in(Path)}, but only what lies in {@code dir} itself: a symbolic link, in the listing or
   * in place of a file opened, is not followed (a receiver serves nothing outside the archive).
   */
  static ArchiveFiles confinedTo(Path dir) {
    ArchiveFiles all = in(dir);
    return new ArchiveFiles() {
      @Override
      public List<Listed> list() throws IOException {
        if (Files.isSymbolicLink(dir)) {
          return List.of();
        }
        List<Listed> out = new ArrayList<>();
        for (Listed l : all.list()) {
          if (!Files.isSymbolicLink(dir.resolve(l.name()))) {
            out.add(l);
          }
        }
        return out;
      }

      @Override
      public PositionalFile open(String name) throws IOException {
        Path f = dir.resolve(name);
        if (!isServed(name) || !f.getParent().equals(dir) || Files.isSymbolicLink(dir)) {
          throw new NoSuchFileException(name);
        }
        // checked first: opening a FIFO would block; then opened without following a link made
        // since
        if (!Files.readAttributes(f, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
            .isRegularFile()) {
          throw new NoSuchFileException(name + " (not a regular file)");
        }
        FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        return PositionalFile.of(ch);
      }

      @Override
      public String where(String name) {
        return all.where(name);
      }
    };
  }
}
