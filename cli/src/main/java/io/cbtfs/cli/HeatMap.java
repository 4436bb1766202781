package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.tracker.BlockGeometry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Draws {@link DirtyCells} for a terminal: rows of cells, each shaded by the fraction of its blocks
 * that are dirty, the byte offset at the start of each row, the scale and a legend. Pure: counts
 * in, lines out.
 */
final class HeatMap {
  /** The five shades, from clean to (nearly) all dirty. */
  enum Shades {
    UNICODE(" ░▒▓█"),
    ASCII(" .:*#");

    private final String chars;

    Shades(String chars) {
      this.chars = chars;
    }

    char of(int level) {
      return chars.charAt(level);
    }

    /**
     * Unicode only when it will show: stdout is a terminal, the locale's character set is UTF-8
     * (the first of LC_ALL, LC_CTYPE and LANG that is set, as setlocale reads them) and ASCII was
     * not asked for.
     */
    static Shades choose(boolean stdoutIsTerminal, Map<String, String> env, boolean asciiAsked) {
      if (asciiAsked || !stdoutIsTerminal) {
        return ASCII;
      }
      for (String name : List.of("LC_ALL", "LC_CTYPE", "LANG")) {
        String value = env.getOrDefault(name, "");
        if (!value.isEmpty()) {
          return value.toLowerCase(Locale.ROOT).matches(".*\\.utf-?8(@.*)?") ? UNICODE : ASCII;
        }
      }
      return ASCII; // no locale: C
    }
  }

  private final Shades shades;
  private final int columns;

  /**
   * @param columns cells per row
   */
  HeatMap(Shades shades, int columns) {
    if (columns < 1) {
      throw new IllegalArgumentException("at least one column");
    }
    this.shades = shades;
    this.columns = columns;
  }

  /**
   * The shade of a cell of {@code blocks} blocks, {@code dirty} of them dirty: 0 (clean) when none
   * is, else 1 to 4 for up to 25, 50, 75 and 100 percent. Rounded up, so that one dirty block in a
   * huge cell still shows.
   */
  static int level(long dirty, long blocks) {
    if (dirty == 0) {
      return 0;
    }
    return (int) Math.min(4, (4 * dirty + blocks - 1) / blocks);
  }

  /** The map of {@code image}, line by line (no line separators). */
  List<String> lines(String image, DirtyCells cells) {
    List<String> out = new ArrayList<>();
    out.add(
        "dirty map    "
            + Printable.escaped(image)
            + (cells.target().isEmpty()
                ? ": what the target furthest behind lacks"
                : ": what " + Printable.escaped(cells.target()) + " lacks"));
    out.add(
        String.format(
            Json.NUMBERS,
            "image        %s (%d bytes), %d cells of %s (%d block%s of %s), %d per row",
            Json.humanBytes(cells.imageSize()),
            cells.imageSize(),
            cells.cells(),
            Json.humanBytes(cells.bytesPerCell()),
            cells.blocksPerCell(),
            cells.blocksPerCell() == 1 ? "" : "s",
            BlockGeometry.formatBytes(cells.blockSize()),
            columns));
    out.add(
        String.format(
            Json.NUMBERS,
            "dirty        %d blocks, %s (%d bytes)",
            cells.totalDirtyBlocks(),
            Json.humanBytes(cells.dirtyBytes()),
            cells.dirtyBytes()));
    int rows = (cells.cells() + columns - 1) / columns;
    List<String> offsets = new ArrayList<>(rows);
    int width = 0;
    for (int row = 0; row < rows; row++) {
      String offset = Json.humanBytes((long) row * columns * cells.bytesPerCell());
      offsets.add(offset);
      width = Math.max(width, offset.length());
    }
    for (int row = 0; row < rows; row++) {
      StringBuilder line = new StringBuilder();
      line.append(" ".repeat(width - offsets.get(row).length())).append(offsets.get(row));
      line.append(" |");
      for (int cell = row * columns; cell < Math.min(cells.cells(), (row + 1) * columns); cell++) {
        line.append(shades.of(level(cells.dirtyBlocks().get(cell), cells.blocksIn(cell))));
      }
      out.add(line.append('|').toString());
    }
    out.add(
        String.format(
            "legend       '%c' clean, '%c' up to 25%%, '%c' up to 50%%, '%c' up to 75%%, '%c' over"
                + " 75%% of a cell's blocks dirty",
            shades.of(0), shades.of(1), shades.of(2), shades.of(3), shades.of(4)));
    return out;
  }
}
