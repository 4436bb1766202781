package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import java.io.IOException;
import java.util.List;

/**
 * One request of the control socket, typed by its reply {@code R}. {@link ControlProtocol} is the
 * only code that turns these into bytes and back; {@link #runOn} is what the mount does for one.
 */
sealed interface ControlRequest<R> {
  /**
   * Does this request in the running mount, on the control server's worker thread.
   *
   * @param progress a sync's progress; it throws once the client went away, which stops the sync
   */
  R runOn(MountService mount, SyncProgress progress) throws IOException;

  /** How the reply travels: one codec per reply type, all in {@link ControlProtocol}. */
  ControlProtocol.ReplyCodec<R> replyCodec();

  /** The answer of a request that returns nothing but its success. */
  enum Done {
    DONE
  }

  /** Is a mount listening, and does it speak this protocol? */
  record Ping() implements ControlRequest<Done> {
    @Override
    public Done runOn(MountService mount, SyncProgress progress) {
      return Done.DONE;
    }

    @Override
    public ControlProtocol.ReplyCodec<Done> replyCodec() {
      return ControlProtocol.DONE_REPLY;
    }
  }

  /** The status of one image the mount serves. */
  record Status(String imageName) implements ControlRequest<ImageStatus> {
    @Override
    public ImageStatus runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.status(imageName);
    }

    @Override
    public ControlProtocol.ReplyCodec<ImageStatus> replyCodec() {
      return ControlProtocol.STATUS_REPLY;
    }
  }

  /**
   * A sync inside the mount.
   *
   * @param full send every block
   * @param snapshot point-in-time (the default) or not, and the fleece's limit
   */
  record Sync(String imageName, TargetAddress target, boolean full, SnapshotOption snapshot)
      implements ControlRequest<SyncReport> {
    /** A point-in-time sync with the default fleece limit. */
    Sync(String imageName, TargetAddress target, boolean full) {
      this(imageName, target, full, SnapshotOption.DEFAULT);
    }

    @Override
    public SyncReport runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.sync(imageName, target, full, snapshot, progress);
    }

    @Override
    public ControlProtocol.ReplyCodec<SyncReport> replyCodec() {
      return ControlProtocol.SYNC_REPLY;
    }
  }

  /** One image of a consistency group and its target. */
  record GroupMember(String imageName, TargetAddress target) {}

  /**
   * A consistency group's sync inside the mount: every image drained at one instant, then each
   * shipped and committed in turn ({@link MountService#syncGroup}).
   *
   * @param members at least two, each image once
   */
  record GroupSync(List<GroupMember> members, boolean full, SnapshotOption snapshot)
      implements ControlRequest<GroupReport> {
    public GroupSync {
      members = List.copyOf(members);
    }

    @Override
    public GroupReport runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.syncGroup(members, full, snapshot, progress);
    }

    @Override
    public ControlProtocol.ReplyCodec<GroupReport> replyCodec() {
      return ControlProtocol.GROUP_REPLY;
    }
  }

  /**
   * Drops the cursor of one target of an image ({@link MountService#forget}).
   *
   * @param target the cursor's name: the target's canonical URI, as a sync names it
   */
  record Forget(String imageName, String target) implements ControlRequest<Done> {
    @Override
    public Done runOn(MountService mount, SyncProgress progress) throws IOException {
      mount.forget(imageName, target);
      return Done.DONE;
    }

    @Override
    public ControlProtocol.ReplyCodec<Done> replyCodec() {
      return ControlProtocol.DONE_REPLY;
    }
  }

  /**
   * The dirty blocks of one image counted in cells, for {@code status --map}: the counting is done
   * in the mount, so the dirty set never travels.
   *
   * @param target the cursor whose lack is counted; empty for the target furthest behind
   * @param maxCells at most this many cells, 1 to {@link DirtyCells#MAX_CELLS}
   */
  record Cells(String imageName, String target, int maxCells)
      implements ControlRequest<DirtyCells> {
    @Override
    public DirtyCells runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.cells(imageName, target, maxCells);
    }

    @Override
    public ControlProtocol.ReplyCodec<DirtyCells> replyCodec() {
      return ControlProtocol.CELLS_REPLY;
    }
  }

  /**
   * Opens a pull backup ({@link MountService#beginBackup}).
   *
   * @param backup its name: the export is IMAGE@NAME, the cursor nbd:NAME
   */
  record BackupBegin(String imageName, String backup, io.cbtfs.syncer.FleeceLimit limit)
      implements ControlRequest<BackupReport> {
    @Override
    public BackupReport runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.beginBackup(imageName, backup, limit);
    }

    @Override
    public ControlProtocol.ReplyCodec<BackupReport> replyCodec() {
      return ControlProtocol.BACKUP_REPLY;
    }
  }

  /** Ends a pull backup ({@link MountService#endBackup}). */
  record BackupEnd(String imageName, String backup, boolean abort)
      implements ControlRequest<BackupReport> {
    @Override
    public BackupReport runOn(MountService mount, SyncProgress progress) throws IOException {
      return mount.endBackup(imageName, backup, abort);
    }

    @Override
    public ControlProtocol.ReplyCodec<BackupReport> replyCodec() {
      return ControlProtocol.BACKUP_REPLY;
    }
  }

  /** Unmount, with the tracking saved; fails while an image is open. */
  record Unmount() implements ControlRequest<Done> {
    @Override
    public Done runOn(MountService mount, SyncProgress progress) throws IOException {
      mount.stop();
      return Done.DONE;
    }

    @Override
    public ControlProtocol.ReplyCodec<Done> replyCodec() {
      return ControlProtocol.DONE_REPLY;
    }
  }
}
