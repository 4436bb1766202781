package io.cbtfs.cli;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import java.io.IOException;
import java.util.List;

/**
 * What a running mount offers its control socket: the {@link ControlServer} reaches the mount only
 * through this ({@link RunningMount} in the mount's process, a fake in the tests).
 */
interface MountService {
  /**
   * The status of an image the mount serves.
   *
   * @throws IOException if there is no such image
   */
  ImageStatus status(String imageName) throws IOException;

  /**
   * Syncs an image to {@code target} inside the mount.
   *
   * @param snapshot whether the target gets the image as of the drain, whatever is written
   *     meanwhile
   * @param progress called after each record; it throws to cancel the sync
   */
  SyncReport sync(
      String imageName,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException;

  /**
   * Syncs a consistency group inside the mount: every image drained at one instant, then each
   * shipped and committed in turn.
   *
   * @return the reports of the images that committed, and what failed if one did
   */
  GroupReport syncGroup(
      List<ControlRequest.GroupMember> members,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException;

  /**
   * Drops the cursor {@code target} of an image the mount serves: the history held for it goes.
   *
   * @throws io.cbtfs.tracker.CbtfsException if the image has no such cursor (the message names the
   *     ones it has)
   */
  void forget(String imageName, String target) throws IOException;

  /**
   * The dirty blocks of an image the mount serves, counted in at most {@code maxCells} cells: what
   * the target furthest behind lacks, or with {@code target} what that cursor lacks.
   *
   * @throws io.cbtfs.tracker.CbtfsException if the image has no such cursor, or its next sync
   *     compares every block
   */
  DirtyCells cells(String imageName, String target, int maxCells) throws IOException;

  /**
   * Opens a pull backup of an image: a point-in-time drain for the cursor {@code nbd:BACKUP},
   * exported read-only over NBD as {@code IMAGE@BACKUP} until {@link #endBackup}.
   *
   * @throws io.cbtfs.tracker.CbtfsException if the mount has no NBD export, or a sync or another
   *     backup of the image runs
   */
  BackupReport beginBackup(String imageName, String backup, FleeceLimit limit) throws IOException;

  /**
   * Withdraws a pull backup's export and commits its cursor, or with {@code abort} leaves it.
   *
   * @throws io.cbtfs.tracker.CbtfsException if no such backup is open, or its view broke (nothing
   *     is committed then)
   */
  BackupReport endBackup(String imageName, String backup, boolean abort) throws IOException;

  /**
   * Unmounts and saves the tracking.
   *
   * @throws io.cbtfs.tracker.CbtfsException if an image is still open (the mount keeps serving)
   */
  void stop() throws IOException;
}
