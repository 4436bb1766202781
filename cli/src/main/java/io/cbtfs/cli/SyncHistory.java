package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.AtomicFile;
import io.cbtfs.tracker.StateFileNames;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The last committed generation per target of one image, for {@code status}: {@code
 * STATE_DIR/NAME.targets} (named by a hash for a long name: {@link StateFileNames}), one line per
 * target ({@code uri TAB generation TAB ISO-time TAB lineage}, the uri with {@code %}, tab, CR and
 * newline percent-escaped so that any target path round-trips). Informational only: the generations
 * that guard correctness live in the tracker and the targets. Lines of an earlier image of the same
 * name (another lineage) are not shown.
 */
final class SyncHistory {
  /**
   * @param lineage the image lineage the sync was of; empty in lines written before it was recorded
   */
  record Entry(String target, long generation, Instant at, String lineage) {}

  private SyncHistory() {}

  static Path file(Path stateDir, String imageName) {
    return StateFileNames.file(stateDir, imageName, ".targets");
  }

  static synchronized void record(
      Path stateDir, String imageName, SyncReport report, String lineage) throws IOException {
    Map<String, Entry> entries = new LinkedHashMap<>();
    for (Entry e : ofLineage(read(stateDir, imageName), lineage)) {
      entries.put(e.target(), e);
    }
    entries.put(
        report.target(), new Entry(report.target(), report.generation(), Instant.now(), lineage));
    StringBuilder text = new StringBuilder();
    for (Entry e : entries.values()) {
      text.append(escape(e.target()))
          .append('\t')
          .append(e.generation())
          .append('\t')
          .append(e.at())
          .append('\t')
          .append(e.lineage())
          .append('\n');
    }
    AtomicFile.replace(file(stateDir, imageName), text.toString().getBytes(StandardCharsets.UTF_8));
  }

  static List<Entry> read(Path stateDir, String imageName) throws IOException {
    List<Entry> out = new ArrayList<>();
    List<String> lines;
    try {
      lines = Files.readAllLines(file(stateDir, imageName), StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return out;
    }
    for (String line : lines) {
      String[] f = line.split("\t", -1);
      if (f.length == 3 || f.length == 4) {
        try {
          out.add(
              new Entry(
                  unescape(f[0]),
                  Long.parseLong(f[1]),
                  Instant.parse(f[2]),
                  f.length == 4 ? f[3] : ""));
        } catch (RuntimeException ignored) {
          // a damaged line of an informational file: skip it
        }
      }
    }
    return out;
  }

  /** The entries of the image {@code lineage} (and old lines that did not record one). */
  static List<Entry> ofLineage(List<Entry> entries, String lineage) {
    if (lineage == null || lineage.isEmpty()) {
      return List.copyOf(entries);
    }
    return entries.stream()
        .filter(e -> e.lineage().isEmpty() || e.lineage().equals(lineage))
        .toList();
  }

  /** Percent-escapes what would end a field or a line. */
  static String escape(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      if (c == '%' || c == '\t' || c == '\n' || c == '\r') {
        b.append('%').append(String.format(Locale.ROOT, "%02X", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  static String unescape(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%' && i + 2 < s.length()) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 3), 16));
        i += 2;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  static String toJson(List<Entry> entries) {
    List<String> items = new ArrayList<>();
    for (Entry e : entries) {
      items.add(
          "{\"target\":"
              + Json.quote(e.target())
              + ",\"generation\":"
              + e.generation()
              + ",\"at\":"
              + Json.quote(e.at().toString())
              + "}");
    }
    return "[" + String.join(",", items) + "]";
  }
}
