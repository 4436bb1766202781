package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
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

  RunningMount(Mount mount) {
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
            threads);
    this.syncsAtOnce = new Semaphore(MemoryBudget.syncsAtOnce(direct, threads), true);
  }

  @Override
  public ImageStatus status(String name) throws IOException {
    ImageFiles files = mount.fileSystem().files();
    Path backing = files.existingImage(name);
    long size = Files.size(backing);
    TrackedImage image = mount.fileSystem().trackers().image(name, () -> files.fingerprint(name));
    DirtySet dirty = image.dirtyBlocks().within(size);
    return new ImageStatus(
        name,
        size,
        image.tracker().geometry().blockSize(),
        dirty.blockCount(),
        dirty.byteCount(size),
        image.committedGeneration(),
        image.lineage().toString(),
        "mounted",
        true,
        switch (image.recovery().kind()) {
          case NEW, CLEAN -> "";
          default -> image.recovery().describe();
        },
        image.verifyNextSync(),
        List.of(),
        mount.transport().label());
  }

  @Override
  public SyncReport sync(String name, TargetAddress target, boolean full, SyncProgress progress)
      throws IOException {
    mount.fileSystem().files().existingImage(name);
    mount.flushKernelCache(name); // --writeback-cache: acknowledged writes reach the tracker first
    syncsAtOnce.acquireUninterruptibly();
    try {
      return syncs.sync(name, target, full, progress);
    } finally {
      syncsAtOnce.release();
    }
  }

  @Override
  public void stop() throws IOException {
    mount.close();
  }
}
