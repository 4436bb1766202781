package io.cbtfs.tracker;

/** A state file that cannot be trusted. Never read as "all clean". */
public final class CorruptStateException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  public CorruptStateException(String source, String problem) {
    super(
        "tracking state "
            + source
            + " is corrupt: "
            + problem
            + " (mount with --reset-tracking to mark the whole image dirty and start over)");
  }
}
