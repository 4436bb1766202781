package io.cbtfs.cli;

import io.cbtfs.fs.mount.Mount;
import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.concurrent.Semaphore;

/** The {@link MountService} of the mount running in this process. */
final class RunningMount implements MountService {
  private final Mount mount;
  private final SyncHost syncs;

  /**
   * Syncs that run at once: the rest wait their turn (their clients hear ALIVE meanwhile) instead
   * of failing when the direct buffers the budget allows are all taken (docs/OPERATIONS.md).
   */
  private final Semaphore syncsAtOnce;

  private final PullBackups backups;

  RunningMount(Mount mount) {
    this(mount, SyncObserver.NONE);
  }

  /** With {@code observer} told of every sync the mount runs (its metrics). */
  RunningMount(Mount mount, SyncObserver observer) {
    this.mount = mount;
    long direct =
        MemoryBudget.directLimit(
            ManagementFactory.getRuntimeMXBean().getInputArguments(),
            Runtime.getRuntime().maxMemory());
    // fewer readers on a many-core host, so that one sync fits the budget's direct buffers
    int threads = MemoryBudget.syncThreads(direct, Runtime.getRuntime().availableProcessors());
    this.syncs =
        new SyncHost(
            mount.fileSystem().trackers(),
            mount.fileSystem().files(),
            mount.options().stateDir(),
            mount.options().mountPoint(),
            threads,
            mount.options().tracking().cursors(),
            observer);
    this.syncsAtOnce = new Semaphore(MemoryBudget.syncsAtOnce(direct, threads), true);
    this.backups =
        new PullBackups(
            mount.fileSystem().trackers(), mount.fileSystem().files(), mount.options().stateDir());
  }

  /** The pull backups open in this mount: its NBD exports serve them, and it ends them. */
  PullBackups backups() {
    return backups;
  }

  @Override
  public BackupReport beginBackup(String name, String backup, FleeceLimit limit)
      throws IOException {
    mount.fileSystem().files().existingImage(name);
    mount.flushKernelCache(name); // --writeback-cache: acknowledged writes are in the drain
    return backups.begin(name, backup, limit);
  }

  @Override
  public BackupReport endBackup(String name, String backup, boolean abort) throws IOException {
    return backups.end(name, backup, abort);
  }

  @Override
  public ImageStatus status(String name) throws IOException {
    return syncs.status(name, mount.transport().label());
  }

  @Override
  public void forget(String name, String target) throws IOException {
    mount.fileSystem().files().existingImage(name);
    syncs.forget(name, target);
  }

  @Override
  public DirtyCells cells(String name, String target, int maxCells) throws IOException {
    return syncs.cells(name, target, maxCells);
  }

  @Override
  public SyncReport sync(
      String name,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    mount.fileSystem().files().existingImage(name);
    mount.flushKernelCache(name); // --writeback-cache: acknowledged writes reach the tracker first
    syncsAtOnce.acquireUninterruptibly();
    try {
      return syncs.sync(name, target, full, snapshot, progress);
    } finally {
      syncsAtOnce.release();
    }
  }

  @Override
  public GroupReport syncGroup(
      List<ControlRequest.GroupMember> members,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    for (ControlRequest.GroupMember m : members) {
      mount.fileSystem().files().existingImage(m.imageName());
      mount.flushKernelCache(m.imageName()); // acknowledged writes reach the tracker first
    }
    syncsAtOnce.acquireUninterruptibly(); // one: the images ship one after the other
    try {
      return syncs.syncGroup(members, full, snapshot, progress);
    } finally {
      syncsAtOnce.release();
    }
  }

  @Override
  public void stop() throws IOException {
    mount.close();
  }
}
