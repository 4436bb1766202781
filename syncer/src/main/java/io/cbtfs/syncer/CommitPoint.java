package io.cbtfs.syncer;

import java.io.Closeable;
import java.io.IOException;
import org.slf4j.Logger;

/**
 * Either side of a target's commit point. Before it, a failure takes back what the commit did, so
 * the target serves what it served before; after it, a failure is logged and does not fail the sync
 * (what is left is finished at the target's next use).
 */
public final class CommitPoint {
  /** A step that may fail. */
  @FunctionalInterface
  public interface Step {
    void run() throws IOException;
  }

  private CommitPoint() {}

  /** Runs {@code undo} for a commit that failed with {@code e}; its own failure joins {@code e}. */
  public static void undo(Throwable e, Step undo) {
    try {
      undo.run();
    } catch (IOException | RuntimeException u) {
      e.addSuppressed(u);
    }
  }

  /** Closes {@code c} after the commit point: a failure is only logged. */
  public static void closeAfter(Closeable c, Logger log) {
    try {
      c.close();
    } catch (IOException | RuntimeException e) {
      log.warn("after a commit: {}", e.toString());
    }
  }

  /** Closes {@code c}: once {@code committed}, as {@link #closeAfter(Closeable, Logger)}. */
  public static void closeAfter(Closeable c, boolean committed, Logger log) throws IOException {
    if (committed) {
      closeAfter(c, log);
    } else {
      c.close();
    }
  }
}
