package io.cbtfs.cli;

import io.cbtfs.syncer.local.Restorable;

/** One line per stored generation, for {@code restore --list} and {@code ls}. */
final class Listing {
  private Listing() {}

  static String line(Restorable.Generation g) {
    return String.format(
        Json.NUMBERS,
        "generation %-6d %-11s image %-10s stored %-10s %s",
        g.generation(),
        g.full() ? "full" : "incremental",
        Json.humanBytes(g.imageSize()),
        g.storedBytes() < 0 ? "?" : Json.humanBytes(g.storedBytes()),
        g.created() == null ? "" : g.created().toString());
  }
}
