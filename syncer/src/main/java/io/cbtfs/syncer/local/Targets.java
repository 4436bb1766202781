package io.cbtfs.syncer.local;

import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.crypto.KeyFile;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Parses target URIs: {@code file:PATH} (a replica image), {@code archive:DIR}, {@code
 * cbtfs://HOST:PORT/NAME}, and those of the {@link TargetScheme}s on the class path.
 */
public final class Targets {
  private Targets() {}

  /**
   * @param cwd the directory relative paths are resolved against (the caller's, not the mount's)
   * @throws IllegalArgumentException for an unknown or malformed URI
   */
  public static Target parse(String uri, Path cwd) {
    TargetScheme extra = scheme(uri);
    if (extra != null) {
      return extra.parse(uri, cwd);
    }
    int colon = uri.indexOf(':');
    String scheme = colon < 0 ? "" : uri.substring(0, colon);
    String rest = colon < 0 ? uri : uri.substring(colon + 1);
    return switch (scheme) {
      case "file" -> new ReplicaTarget(resolve(rest, cwd));
      case "archive" -> archive(rest, cwd);
      default ->
          throw new IllegalArgumentException(
              "unknown target '"
                  + uri
                  + "': use file:PATH (a replica image), archive:DIR (a backup chain) or "
                  + "cbtfs://HOST:PORT/NAME (a receiver)"
                  + (scheme("s3://") == null
                      ? ""
                      : " or s3://BUCKET/[STORE/]IMAGE (object storage)"));
    };
  }

  /** The query that names an archive's key file: {@code archive:DIR?encrypt-key=PATH}. */
  public static final String KEY_QUERY = "?encrypt-key=";

  private static ArchiveTarget archive(String rest, Path cwd) {
    int q = rest.lastIndexOf(KEY_QUERY);
    if (q < 0) {
      return new ArchiveTarget(resolve(rest, cwd));
    }
    Path key = resolve(rest.substring(q + KEY_QUERY.length()), cwd);
    return new ArchiveTarget(resolve(rest.substring(0, q), cwd), KeyFile.load(key));
  }

  /** The canonical URI of a target given relative to {@code cwd}. */
  public static String absolute(String uri, Path cwd) {
    TargetScheme extra = scheme(uri);
    if (extra != null) {
      return extra.absolute(uri, cwd);
    }
    int q = uri.lastIndexOf(KEY_QUERY);
    if (uri.startsWith("archive:") && q >= 0) { // the key's path, absolute, is kept
      return parse(uri.substring(0, q), cwd).describe()
          + KEY_QUERY
          + resolve(uri.substring(q + KEY_QUERY.length()), cwd);
    }
    return parse(uri, cwd).describe();
  }

  private static final java.util.List<TargetScheme> SCHEMES =
      java.util.ServiceLoader.load(TargetScheme.class).stream()
          .map(java.util.ServiceLoader.Provider::get)
          .toList();

  private static TargetScheme scheme(String uri) {
    for (TargetScheme s : SCHEMES) {
      if (uri.startsWith(s.prefix())) {
        return s;
      }
    }
    return null;
  }

  private static Path resolve(String path, Path cwd) {
    if (path.isEmpty()) {
      throw new IllegalArgumentException("target path is empty");
    }
    return cwd.resolve(path).toAbsolutePath().normalize();
  }

  /**
   * {@code p}, absolute, in its folder's real path where that folder exists (symbolic links
   * resolved): one name for a file however it is spelled.
   */
  public static Path realFolder(Path p) {
    Path abs = p.toAbsolutePath().normalize();
    Path parent = abs.getParent();
    if (parent == null) {
      return abs;
    }
    try {
      return parent.toRealPath().resolve(abs.getFileName());
    } catch (IOException e) {
      return abs;
    }
  }

  static CbtfsException notADirectory(Path p) {
    return new CbtfsException(p + " is not a directory");
  }
}
