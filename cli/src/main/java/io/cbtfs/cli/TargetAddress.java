package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.Targets;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a sync goes, as a canonical target URI: parsed once, where the user named it (a relative
 * path against their working directory, the S3 options folded in), then carried as it is: over the
 * control socket into the mount, and to {@link #open} where the sync runs.
 *
 * @param uri absolute: its meaning does not depend on the process that opens it
 */
record TargetAddress(String uri) {
  private static final Path NO_CWD = Path.of("/");

  /**
   * @param cwd the directory a relative path is resolved against (the caller's)
   * @throws IllegalArgumentException for an unknown or malformed URI (a usage error)
   */
  static TargetAddress parse(String uri, Path cwd) {
    String absolute = Targets.absolute(uri, cwd);
    if (absolute.indexOf(UNDECODABLE) >= 0) { // in the argument, or in the folder it is run in
      throw new IllegalArgumentException(unreadable(absolute));
    }
    return new TargetAddress(absolute);
  }

  /** What the JVM makes of argument bytes its charset cannot decode. */
  private static final char UNDECODABLE = '\uFFFD';

  /**
   * Why {@code uri} cannot be used: the JVM decoded it from bytes that are not valid in its charset
   * (a folder named in Latin-1 under a UTF-8 locale), so the path it names is another one (where
   * each such byte is the three of U+FFFD) and an archive there "holds no archive".
   */
  static String unreadable(String uri) {
    return "'"
        + Printable.escaped(uri)
        + "' holds bytes that are not valid "
        + System.getProperty("sun.jnu.encoding", "UTF-8")
        + " (shown as \uFFFD): cbtfs cannot name that path; rename it, or make a symbolic link "
        + "to it with a readable name";
  }

  /** Parses {@code uri} against this process's working directory. */
  static TargetAddress parse(String uri) {
    return parse(uri, Path.of("").toAbsolutePath());
  }

  /** The target itself, ready to sync to or read from; the caller closes it. */
  Target open() {
    return Targets.parse(uri, NO_CWD);
  }

  /**
   * The name a sync gives this target's cursor ({@link Target#describe} of the target it opens),
   * found without connecting anywhere or touching the target.
   *
   * @throws IllegalArgumentException if the target cannot be opened (a cbtfs:// token unreadable)
   */
  String cursorName() throws IOException {
    try (Target t = open()) {
      return t.describe();
    }
  }

  @Override
  public String toString() {
    return uri;
  }
}
