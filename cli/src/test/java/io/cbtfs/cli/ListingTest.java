package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.local.Restorable;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code ls} and {@code restore --list}: columns aligned whatever the widths of their values. */
class ListingTest {
  @Test
  void columnsAlignByTheWidestValue() {
    Instant at = Instant.parse("2026-12-04T20:00:00Z");
    List<Restorable.Generation> gens =
        List.of(
            new Restorable.Generation(7, true, 1L << 20, at, 512),
            new Restorable.Generation(1_234_567, false, 5L << 40, at, -1),
            new Restorable.Generation(12_345_678_901L, false, 100, at, 3L << 30));
    Listing listing = Listing.of(gens);
    List<String> lines = gens.stream().map(listing::line).toList();
    for (String column : new String[] {" image ", " stored ", " 2026-12-04T20:00:00Z"}) {
      assertThat(lines)
          .as("where %s starts in %s", column, lines)
          .extracting(l -> l.indexOf(column))
          .containsOnly(lines.get(0).indexOf(column));
    }
    assertThat(lines.get(1)).contains("generation 1234567 ").contains(" incremental ");
    assertThat(lines.get(2)).startsWith("generation 12345678901 incremental image 100 B");
  }

  @Test
  void shortValuesKeepTheColumnsTheyAlwaysHad() {
    Restorable.Generation g =
        new Restorable.Generation(3, true, 1L << 20, Instant.parse("2026-12-04T20:00:00Z"), 512);
    assertThat(Listing.of(List.of(g)).line(g))
        .isEqualTo(
            "generation 3      full        image 1.0 MiB    stored 512 B      2026-12-04T20:00:00Z");
  }
}
