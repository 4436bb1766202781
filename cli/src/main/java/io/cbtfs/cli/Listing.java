package io.cbtfs.cli;

import io.cbtfs.syncer.local.Restorable;
import java.util.Collection;

/**
 * One line per stored generation, for {@code restore --list} and {@code ls}: its columns as wide as
 * their widest value in the listing, so that a generation number of any length (a store synced
 * every minute for years) keeps the columns aligned.
 */
final class Listing {
  private final String format;

  private Listing(int generationWidth, int imageWidth, int storedWidth) {
    this.format =
        "generation %-"
            + generationWidth
            + "d %-11s image %-"
            + imageWidth
            + "s stored %-"
            + storedWidth
            + "s %s";
  }

  /** The columns for {@code generations}: each at least as wide as it always was. */
  static Listing of(Collection<Restorable.Generation> generations) {
    int generation = 6;
    int image = 10;
    int stored = 10;
    for (Restorable.Generation g : generations) {
      generation = Math.max(generation, Long.toString(g.generation()).length());
      image = Math.max(image, imageBytes(g).length());
      stored = Math.max(stored, storedBytes(g).length());
    }
    return new Listing(generation, image, stored);
  }

  String line(Restorable.Generation g) {
    return String.format(
        Json.NUMBERS,
        format,
        g.generation(),
        g.full() ? "full" : "incremental",
        imageBytes(g),
        storedBytes(g),
        g.created() == null ? "" : g.created().toString());
  }

  private static String imageBytes(Restorable.Generation g) {
    return Json.humanBytes(g.imageSize());
  }

  private static String storedBytes(Restorable.Generation g) {
    return g.storedBytes() < 0 ? "?" : Json.humanBytes(g.storedBytes());
  }
}
