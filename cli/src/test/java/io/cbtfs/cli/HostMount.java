package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A mount without FUSE: the requests of its control socket answered by its {@link SyncHost}, as the
 * running mount answers them; backups and stop are not served.
 */
final class HostMount extends ControlServerTest.FakeMount {
  private final SyncHost host;

  HostMount(SyncHost host) {
    this.host = host;
  }

  /** Serves {@code mount} on the control socket of {@code stateDir}, to every user. */
  static ControlServer serve(Path stateDir, MountService mount) throws IOException {
    return ControlServer.start(
        ControlProtocol.socketPath(stateDir),
        mount,
        "someone",
        user -> true,
        ControlServer.Limits.DEFAULT);
  }

  @Override
  public ImageStatus status(String name) throws IOException {
    return host.status(name, "kernel");
  }

  @Override
  public SyncReport sync(
      String name,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    return host.sync(name, target, full, snapshot, progress);
  }

  @Override
  public GroupReport syncGroup(
      List<ControlRequest.GroupMember> members,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    return host.syncGroup(members, full, snapshot, progress);
  }

  @Override
  public void forget(String name, String target) throws IOException {
    host.forget(name, target);
  }

  @Override
  public DirtyCells cells(String name, String target, int maxCells) throws IOException {
    return host.cells(name, target, maxCells);
  }
}
