package io.cbtfs.cli;

import java.util.Locale;

/** The little JSON and number formatting the commands print. */
final class Json {
  /**
   * The locale of every number the commands print: '.' as the decimal point and no grouping.
   * Locale.US rather than ROOT because the JDK formats US numbers without loading locale data,
   * which took a short command about 10 ms of CPU at start.
   */
  static final Locale NUMBERS = Locale.US;

  private Json() {}

  static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder out = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format(NUMBERS, "\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }

  /** 1536 as "1.5 KiB". */
  static String humanBytes(long bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = bytes;
    int unit = -1;
    while (v >= 1024 && unit < units.length - 1) {
      v /= 1024;
      unit++;
    }
    return String.format(NUMBERS, "%.1f %s", v, units[unit]);
  }

  /** 90061 as "1 d 1 h": the two largest units, for a human reading an age. */
  static String humanSeconds(long seconds) {
    long[] sizes = {86_400, 3_600, 60, 1};
    String[] units = {"d", "h", "min", "s"};
    for (int i = 0; i < sizes.length - 1; i++) {
      if (seconds >= sizes[i]) {
        long rest = seconds % sizes[i] / sizes[i + 1];
        return seconds / sizes[i]
            + " "
            + units[i]
            + (rest == 0 ? "" : " " + rest + " " + units[i + 1]);
      }
    }
    return seconds + " s";
  }
}
