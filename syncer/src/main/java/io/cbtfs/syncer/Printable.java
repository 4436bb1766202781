package io.cbtfs.syncer;

/** Text from a peer or another host, made safe to log or print. */
public final class Printable {
  private Printable() {}

  /** {@code text} as one printable ASCII line of at most {@code limit} characters (then "..."). */
  public static String line(String text, int limit) {
    String t = text.replaceAll("[^\\x20-\\x7e]", "?");
    return t.length() > limit ? t.substring(0, limit) + "..." : t;
  }

  /**
   * {@code text} with its control characters escaped ({@code \n}, {@code \t}, {@code \x7f}): a name
   * or a peer's message stays one line however it was made.
   */
  public static String escaped(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        case '\r' -> out.append("\\r");
        default -> {
          if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
            out.append(String.format("\\x%02x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.toString();
  }
}
