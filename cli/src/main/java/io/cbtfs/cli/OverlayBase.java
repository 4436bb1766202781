package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.nio.file.Path;
import java.util.UUID;

/**
 * The generation an overlay lies over, as its block maps name it ({@code image lineage UUID
 * generation N}, docs/FORMAT.md): what a remount checks, and what {@code cbtfs adopt} tracks from.
 */
record OverlayBase(UUID lineage, long generation) {
  private static final String LINEAGE = "image lineage ";
  private static final String GENERATION = " generation ";

  @Override
  public String toString() {
    return LINEAGE + lineage + GENERATION + generation;
  }

  /**
   * @throws CbtfsException if {@code text}, read from {@code file}, names no generation
   */
  static OverlayBase parse(String text, Path file) {
    int g = text.indexOf(GENERATION);
    if (text.startsWith(LINEAGE) && g > 0) {
      try {
        return new OverlayBase(
            UUID.fromString(text.substring(LINEAGE.length(), g)),
            Long.parseLong(text.substring(g + GENERATION.length())));
      } catch (IllegalArgumentException e) {
        // named below
      }
    }
    throw new CbtfsException(file + " names no generation of a backup ('" + text + "')");
  }
}
