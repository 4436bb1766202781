package io.cbtfs.syncer;

/** Text from a peer or another host, made safe to log or print. */
public final class Printable {
  private Printable() {}

  /** {@code text} as one printable ASCII line of at most {@code limit} characters (then "..."). */
  public static String line(String text, int limit) {
    String t = text.replaceAll("[^\\x20-\\x7e]", "?");
    return t.length() > limit ? t.substring(0, limit) + "..." : t;
  }
}
