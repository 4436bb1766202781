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
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The files of an archive folder that a reader uses ({@code archive.meta} and the generations'
 * deltas), wherever they are: in a folder of this host, or served by a receiver ({@code
 * cbtfs://…?archive}). {@link ArchiveReader} reads an archive through this alone, so a local and a
 * remote archive are read and checked by the same code. Thread-safe.
 */
public interface ArchiveFiles {
  String META = "archive.meta";

  /**
   * A file of the archive as listed: its name in the folder, its length, when it was written, and
   * its identity (the inode number: a file renamed over it, as a gc's fold is, has another one).
   */
  record Listed(String name, long byteSize, Instant modified, long fileId) {}

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

  /**
   * File {@code name} as {@link #list} would list it now.
   *
   * @throws NoSuchFileException if it is not there (any more)
   */
  default Listed stat(String name) throws IOException {
    for (Listed l : list()) {
      if (l.name().equals(name)) {
        return l;
      }
    }
    throw new NoSuchFileException(where(name));
  }

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
              try {
                Listed l = statFollowing(f, name);
                if (l != null) {
                  out.add(l);
                }
              } catch (NoSuchFileException gone) {
                continue; // removed since the folder was listed
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
      public Listed stat(String name) throws IOException {
        Listed l = statFollowing(dir.resolve(name), name);
        if (l == null) {
          throw new NoSuchFileException(where(name) + " (not a regular file)");
        }
        return l;
      }

      @Override
      public String where(String name) {
        return dir.resolve(name).toString();
      }
    };
  }

  /** File {@code f} as listed under {@code name}, or null if it is not a regular file. */
  private static Listed statFollowing(Path f, String name) throws IOException {
    Map<String, Object> a = Files.readAttributes(f, "unix:size,lastModifiedTime,isRegularFile,ino");
    if (!(Boolean) a.get("isRegularFile")) {
      return null;
    }
    return new Listed(
        name,
        (Long) a.get("size"),
        ((FileTime) a.get("lastModifiedTime")).toInstant(),
        (Long) a.get("ino"));
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
      public Listed stat(String name) throws IOException {
        if (Files.isSymbolicLink(dir.resolve(name))) {
          throw new NoSuchFileException(name);
        }
        return all.stat(name);
      }

      @Override
      public String where(String name) {
        return all.where(name);
      }
    };
  }
}
