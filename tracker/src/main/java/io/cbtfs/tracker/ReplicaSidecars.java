package io.cbtfs.tracker;

import java.util.Arrays;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The names of the hidden files a replica target keeps beside its image, {@code .NAME.cbtfs-KIND}
 * (and {@code .tmp} while one is being replaced): the syncer writes them, the file system hides
 * them from the images it serves. Both depend on this module, so the names live here once.
 */
public final class ReplicaSidecars {
  /** What a sidecar holds. */
  public enum Kind {
    /** Lineage and generation. */
    META,
    /** A delta being received. */
    STAGING,
    /** The first full image being written, before the replica exists. */
    NEW,
    /** A verified delta being applied: the journal. */
    APPLY,
    /** The lock of commit, settle and recovery. */
    LOCK,
    /** The lock held by the one sync that stages a delta. */
    SYNC;

    private String suffix() {
      return ".cbtfs-" + name().toLowerCase(Locale.ROOT);
    }
  }

  private static final Pattern SIDECAR =
      Pattern.compile(
          "\\..+\\.cbtfs-("
              + Arrays.stream(Kind.values())
                  .map(k -> k.name().toLowerCase(Locale.ROOT))
                  .collect(Collectors.joining("|"))
              + ")(\\.tmp)?",
          Pattern.DOTALL);

  private ReplicaSidecars() {}

  /** The file name of the {@code kind} sidecar of the replica named {@code imageName}. */
  public static String name(String imageName, Kind kind) {
    return "." + imageName + kind.suffix();
  }

  /** Whether {@code fileName} is a replica's sidecar (or its {@code .tmp}). */
  public static boolean isSidecar(String fileName) {
    return SIDECAR.matcher(fileName).matches();
  }
}
