package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.StateFileNames;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The last committed generation per target of one image, for {@code status}: {@code
 * STATE_DIR/NAME.targets} (named by a hash for a long name: {@link StateFileNames}), one line per
 * target ({@code uri TAB generation TAB ISO-time}). Informational only: the generations that guard
 * correctness live in the tracker and the targets.
 */
final class SyncHistory {
  record Entry(String target, long generation, Instant at) {}

  private SyncHistory() {}

  static Path file(Path stateDir, String imageName) {
    return StateFileNames.file(stateDir, imageName, ".targets");
  }

  static synchronized void record(Path stateDir, String imageName, SyncReport report)
      throws IOException {
    Map<String, Entry> entries = new LinkedHashMap<>();
    for (Entry e : read(stateDir, imageName)) {
      entries.put(e.target(), e);
    }
    entries.put(report.target(), new Entry(report.target(), report.generation(), Instant.now()));
    StringBuilder text = new StringBuilder();
    for (Entry e : entries.values()) {
      text.append(e.target())
          .append('\t')
          .append(e.generation())
          .append('\t')
          .append(e.at())
          .append('\n');
    }
    Path file = file(stateDir, imageName);
    Path temp = file.resolveSibling(file.getFileName() + StateFileNames.TEMP_SUFFIX);
    Files.writeString(temp, text, StandardCharsets.UTF_8);
    Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
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
      String[] f = line.split("\t");
      if (f.length == 3) {
        try {
          out.add(new Entry(f[0], Long.parseLong(f[1]), Instant.parse(f[2])));
        } catch (RuntimeException ignored) {
          // a damaged line of an informational file: skip it
        }
      }
    }
    return out;
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
