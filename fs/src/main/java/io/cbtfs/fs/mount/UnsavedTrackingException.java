package io.cbtfs.fs.mount;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;

/**
 * The mount was unmounted, but its tracking could not be saved as clean (a full or failing state
 * disk). Nothing is lost: the state on disk is still the unclean one the mount kept while serving,
 * and the next mount recovers from it as after a crash.
 */
public final class UnsavedTrackingException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  UnsavedTrackingException(Path mountPoint, Path stateDir, IOException cause) {
    super(
        "unmounted "
            + mountPoint
            + ", but its tracking could not be saved clean in "
            + stateDir
            + " ("
            + reason(cause)
            + "): the next mount recovers it as after a crash, from the saved dirty blocks "
            + "and the activity log's extents",
        cause);
  }

  private static String reason(IOException e) {
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }
}
