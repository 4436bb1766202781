package io.cbtfs.fs;

import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.ReplicaSidecars;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The backing directory seen through the mount: a flat set of regular files. Maps a FUSE path
 * ({@code /disk.img}) to the backing file, and hides everything else: the state directory,
 * sub-directories, symbolic links (which could lead out of the directory) and special files.
 */
public final class ImageFiles {
  private final Path backingDir;
  private final String hiddenName;

  /**
   * @param backingDir the directory whose regular files are served
   * @param stateDir the tracking state directory; hidden if it lies directly in {@code backingDir}
   */
  public ImageFiles(Path backingDir, Path stateDir) {
    this.backingDir = backingDir.toAbsolutePath().normalize();
    Path state = stateDir.toAbsolutePath().normalize();
    this.hiddenName =
        this.backingDir.equals(state.getParent()) ? state.getFileName().toString() : null;
  }

  public Path backingDir() {
    return backingDir;
  }

  /** Whether {@code fusePath} names the root of the mount. */
  public static boolean isRoot(String fusePath) {
    return "/".equals(fusePath);
  }

  /**
   * The image name of a FUSE path such as {@code /disk.img}.
   *
   * @throws ErrnoException ENOENT for nested paths and for the hidden state directory
   */
  public String imageName(String fusePath) throws ErrnoException {
    if (fusePath.length() < 2 || fusePath.charAt(0) != '/' || fusePath.indexOf('/', 1) >= 0) {
      throw new ErrnoException(Posix.ENOENT, "no image at " + fusePath);
    }
    String name = fusePath.substring(1);
    if (isHidden(name) || name.equals(".") || name.equals("..")) {
      throw new ErrnoException(Posix.ENOENT, "no image at " + fusePath);
    }
    return name;
  }

  /**
   * The backing file of an existing image, by name (for requests that name an image rather than a
   * FUSE path).
   *
   * @throws ErrnoException ENOENT naming the folder, for a bad name or no such regular file
   */
  public Path existingImage(String name) throws ErrnoException {
    Path file = backingFile(imageName("/" + name));
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      throw new ErrnoException(Posix.ENOENT, "no image named '" + name + "' in " + backingDir);
    }
    return file;
  }

  /** The backing file of an image name (which {@link #imageName} validated). */
  public Path backingFile(String imageName) {
    return backingDir.resolve(imageName);
  }

  /**
   * The fingerprint of an image's backing file now (size, mtime, ctime, inode), which tells the
   * tracker whether the file changed while it was not served.
   */
  public Fingerprint fingerprint(String imageName) throws IOException {
    return fingerprintOf(backingFile(imageName));
  }

  /** The fingerprint of {@code file} now (not following a symbolic link). */
  public static Fingerprint fingerprintOf(Path file) throws IOException {
    Map<String, Object> a =
        Files.readAttributes(
            file, "unix:size,lastModifiedTime,ctime,ino", LinkOption.NOFOLLOW_LINKS);
    return new Fingerprint(
        (Long) a.get("size"),
        ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS),
        ((FileTime) a.get("ctime")).to(TimeUnit.NANOSECONDS),
        (Long) a.get("ino"));
  }

  /**
   * The state directory, and the hidden files a replica target keeps beside its image ({@code
   * .NAME.cbtfs-meta} and the like), which are cbtfs's own and no images.
   */
  private boolean isHidden(String name) {
    // only a dotted name can be a sidecar: an ordinary name never reaches the matcher
    return name.equals(hiddenName)
        || (!name.isEmpty() && name.charAt(0) == '.' && ReplicaSidecars.isSidecar(name));
  }

  /** Names of the regular files of the backing directory, cbtfs's own files excluded. */
  public List<String> list() throws IOException {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(backingDir)) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        if (!isHidden(name)
            && decodes(entry, name)
            && Files.isRegularFile(entry, LinkOption.NOFOLLOW_LINKS)) {
          names.add(name);
        }
      }
    }
    names.sort(null);
    return names;
  }

  /**
   * Whether {@code name} names {@code entry} again: a name whose bytes are not valid in the JVM's
   * charset decodes to U+FFFD, whose bytes name another file (or none), so it cannot be served.
   */
  private static boolean decodes(Path entry, String name) {
    return entry.getFileName().equals(entry.getFileSystem().getPath(name));
  }
}
