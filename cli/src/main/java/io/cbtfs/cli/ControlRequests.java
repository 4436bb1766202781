package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import java.io.IOException;
import java.util.Map;

/** What a control request does: the mount's own work behind the socket ({@link MountRequests}). */
@FunctionalInterface
interface ControlRequests {
  /**
   * Runs {@code request} on the control server's worker thread.
   *
   * @param progress a SYNC's progress; it throws once the client went away, which stops the sync
   * @return the reply's fields, in order
   */
  Map<String, String> run(ControlRequest request, SyncProgress progress) throws IOException;
}
