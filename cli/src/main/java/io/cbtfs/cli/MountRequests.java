package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;

/** The control requests of a running mount: its status, a sync inside it, its unmount. */
final class MountRequests implements ControlRequests {
  private final Mount mount;

  /**
   * Syncs that run at once: the rest wait their turn (their clients hear ALIVE meanwhile) instead
   * of failing when the direct buffers the budget allows are all taken (docs/OPERATIONS.md).
   */
  private final Semaphore syncs;

  MountRequests(Mount mount) {
    this.mount = mount;
    this.syncs =
        new Semaphore(
            MemoryBudget.syncsAtOnce(
                ManagementFactory.getRuntimeMXBean().getInputArguments(),
                Runtime.getRuntime().maxMemory()),
            true);
  }

  @Override
  public Map<String, String> run(ControlRequest request, SyncProgress progress) throws IOException {
    return switch (request.type()) {
      case ControlProtocol.PING -> Map.of();
      case ControlProtocol.STATUS -> status(request.name()).toFields();
      case ControlProtocol.SYNC -> sync(request, progress);
      case ControlProtocol.UNMOUNT -> {
        mount.close();
        yield Map.of();
      }
      default -> throw new IllegalStateException("not a request type: " + request.type());
    };
  }

  private Map<String, String> sync(ControlRequest request, SyncProgress progress)
      throws IOException {
    syncs.acquireUninterruptibly();
    try {
      return SyncRunner.inMount(mount, request.name(), request.target(), request.full(), progress)
          .toFields();
    } finally {
      syncs.release();
    }
  }

  private ImageStatus status(String name) throws IOException {
    ImageFiles files = mount.fileSystem().files();
    Path backing = files.existingImage(name);
    long size = Files.size(backing);
    TrackedImage image = mount.fileSystem().trackers().image(name, () -> files.fingerprint(name));
    DirtySet dirty = image.tracker().snapshot().within(size);
    return new ImageStatus(
        name,
        size,
        image.tracker().geometry().blockSize(),
        dirty.blockCount(),
        dirty.byteCount(size),
        image.tracker().committedGeneration(),
        image.lineage().toString(),
        "mounted",
        true,
        switch (image.recovery().kind()) {
          case NEW, CLEAN -> "";
          default -> image.recovery().describe();
        },
        image.verifyNextSync(),
        List.of());
  }
}
