package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.cli.HeatMap.Shades;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The drawing of a map, line for line, from counts the test chooses. */
class HeatMapTest {
  private static final String ASCII_LEGEND =
      "legend       ' ' clean, '.' up to 25%, ':' up to 50%, '*' up to 75%, '#' over 75% of a"
          + " cell's blocks dirty";

  /**
   * 10 blocks of 4 KiB, the last one 100 bytes short, 3 blocks per cell: cells of 3, 3, 3 and 1
   * blocks, drawn 3 to a row.
   */
  @Test
  void aSmallImageLineForLineWithAPartialLastCell() {
    long size = 10 * 4096 - 100;
    DirtyCells cells = new DirtyCells("", size, 4096, 3, 5 * 4096 - 100, List.of(0L, 1L, 3L, 1L));
    // cell 0: 0 of 3 clean; cell 1: 1 of 3 (33%) up to 50%; cell 2: 3 of 3; cell 3: 1 of its 1
    assertThat(new HeatMap(Shades.ASCII, 3).lines("vm.raw", cells))
        .containsExactly(
            "dirty map    vm.raw: what the target furthest behind lacks",
            "image        39.9 KiB (40860 bytes), 4 cells of 12.0 KiB (3 blocks of 4K), 3 per row",
            "dirty        5 blocks, 19.9 KiB (20380 bytes)",
            "     0 B | :#|",
            "36.0 KiB |#|",
            ASCII_LEGEND);
  }

  /** The same counts in Unicode shades, and what a target lacks in the title. */
  @Test
  void unicodeShadesAndATargetsTitle() {
    DirtyCells cells =
        new DirtyCells("file:/r", 8 * 4096, 4096, 2, 5 * 4096, List.of(0L, 1L, 2L, 2L));
    assertThat(new HeatMap(Shades.UNICODE, 4).lines("vm.raw", cells))
        .containsExactly(
            "dirty map    vm.raw: what file:/r lacks",
            "image        32.0 KiB (32768 bytes), 4 cells of 8.0 KiB (2 blocks of 4K), 4 per row",
            "dirty        5 blocks, 20.0 KiB (20480 bytes)",
            "0 B | ▒██|",
            "legend       ' ' clean, '░' up to 25%, '▒' up to 50%, '▓' up to 75%, '█' over 75% of"
                + " a cell's blocks dirty");
  }

  /** Each density range gets its shade; the bounds are inclusive above. */
  @Test
  void everyShadeForItsRange() {
    // 100 blocks a cell: 0, 1, 25, 26, 50, 51, 75, 76 and 100 dirty
    List<Long> counts = List.of(0L, 1L, 25L, 26L, 50L, 51L, 75L, 76L, 100L);
    DirtyCells cells = new DirtyCells("", 900 * 4096L, 4096, 100, 504 * 4096L, counts);
    assertThat(new HeatMap(Shades.ASCII, 9).lines("i", cells).get(3)).isEqualTo("0 B | ..::**##|");
  }

  /** One dirty block among a million in a cell still shows. */
  @Test
  void aCellWithOneDirtyBlockIsNeverBlank() {
    assertThat(HeatMap.level(1, 1_000_000)).isEqualTo(1);
    assertThat(HeatMap.level(0, 1_000_000)).isZero();
    assertThat(HeatMap.level(1_000_000, 1_000_000)).isEqualTo(4);
    DirtyCells cells =
        new DirtyCells("", 2_000_000 * 4096L, 4096, 1_000_000, 4096, List.of(1L, 0L));
    assertThat(new HeatMap(Shades.ASCII, 2).lines("i", cells).get(3)).isEqualTo("0 B |. |");
    assertThat(new HeatMap(Shades.UNICODE, 2).lines("i", cells).get(3)).isEqualTo("0 B |░ |");
  }

  /** An empty image: the scale and the legend, no rows. */
  @Test
  void anEmptyImageHasNoRows() {
    DirtyCells cells = new DirtyCells("", 0, 65536, 1, 0, List.of());
    assertThat(new HeatMap(Shades.ASCII, 64).lines("e", cells))
        .containsExactly(
            "dirty map    e: what the target furthest behind lacks",
            "image        0 B (0 bytes), 0 cells of 64.0 KiB (1 block of 64K), 64 per row",
            "dirty        0 blocks, 0 B (0 bytes)",
            ASCII_LEGEND);
  }

  /** A name with a control character cannot move the terminal's cursor. */
  @Test
  void namesAreEscaped() {
    DirtyCells cells = new DirtyCells("file:/\u001b[2J", 4096, 4096, 1, 0, List.of(0L));
    assertThat(new HeatMap(Shades.ASCII, 1).lines("a\nb", cells).get(0))
        .doesNotContain("\n", "\u001b");
  }

  @Test
  void unicodeOnlyOnAUtf8Terminal() {
    Map<String, String> utf8 = Map.of("LANG", "en_US.UTF-8");
    assertThat(Shades.choose(true, utf8, false)).isEqualTo(Shades.UNICODE);
    assertThat(Shades.choose(false, utf8, false)).as("not a terminal").isEqualTo(Shades.ASCII);
    assertThat(Shades.choose(true, utf8, true)).as("--ascii").isEqualTo(Shades.ASCII);
    assertThat(Shades.choose(true, Map.of(), false)).as("no locale: C").isEqualTo(Shades.ASCII);
    assertThat(Shades.choose(true, Map.of("LANG", "de_DE.ISO-8859-1"), false))
        .isEqualTo(Shades.ASCII);
    assertThat(Shades.choose(true, Map.of("LANG", "en_US.UTF-8", "LC_ALL", "C"), false))
        .as("LC_ALL first")
        .isEqualTo(Shades.ASCII);
    assertThat(Shades.choose(true, Map.of("LC_ALL", "", "LC_CTYPE", "C.utf8", "LANG", "C"), false))
        .as("an empty LC_ALL is not set")
        .isEqualTo(Shades.UNICODE);
    assertThat(Shades.choose(true, Map.of("LANG", "sr_RS.UTF-8@latin"), false))
        .isEqualTo(Shades.UNICODE);
  }
}
