package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.syncer.FleeceStore;
import io.cbtfs.syncer.PointInTime;
import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The server half of the commands on an image's tracking: where the tracking is held, an image is
 * synced to its target, its status taken and a target's cursor forgotten. The running mount holds
 * one ({@link RunningMount}); with no mount, {@link #offline} and {@link #forgetOffline} load the
 * saved state into one for a single command.
 */
final class SyncHost {
  private final TrackerStore store;
  private final ImageFiles files;
  private final Path stateDir;
  private final Path mountPoint;
  private final int syncThreads;
  private final TrackingOptions.Cursors cursors;
  private final SyncObserver observer;

  /**
   * @param mountPoint the mount serving the images, or null for a sync with no mount
   * @param syncThreads each sync's readers ({@link MemoryBudget#syncThreads})
   * @param cursors the store's cursor policy: its clock says how long ago a target synced
   * @param observer told of every sync once it ended
   */
  SyncHost(
      TrackerStore store,
      ImageFiles files,
      Path stateDir,
      Path mountPoint,
      int syncThreads,
      TrackingOptions.Cursors cursors,
      SyncObserver observer) {
    this.store = store;
    this.files = files;
    this.stateDir = stateDir;
    this.mountPoint = mountPoint;
    this.syncThreads = syncThreads;
    this.cursors = cursors;
    this.observer = observer;
  }

  /**
   * Loads the image's tracking and syncs it to {@code address}: the target's cursor moves. Once the
   * target is open, the sync counts for the observer, whether it succeeds or fails.
   */
  SyncReport sync(String name, TargetAddress address, boolean full, SyncProgress progress)
      throws IOException {
    return sync(name, address, full, SnapshotOption.OFF, progress);
  }

  /**
   * {@link #sync(String, TargetAddress, boolean, SyncProgress)}, point-in-time when {@code
   * snapshot} is on: the fleece is a scratch file in the state directory (unlinked at once, so a
   * crash leaves nothing behind).
   */
  SyncReport sync(
      String name,
      TargetAddress address,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    PointInTime pointInTime =
        snapshot.on()
            ? new PointInTime(FleeceStore.scratchIn(stateDir), snapshot.fleeceLimit())
            : PointInTime.OFF;
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
    try (Target t = address.open()) {
      long start = System.nanoTime();
      SyncReport report = null;
      try {
        report = syncer().sync(source(name, image, t, pointInTime), t, full, progress);
        return report;
      } finally {
        observer.ended(image, t.describe(), report, System.nanoTime() - start);
      }
    }
  }

  /**
   * Syncs a consistency group, point-in-time: every image drained at one instant, then each shipped
   * and committed in turn ({@link Syncer#syncGroup}). Every image's sync counts for the observer
   * once its target is open: the committed ones with their reports, the others as failed.
   *
   * @return the reports of the images that committed, and, if one failed, the line that says which
   *     and why
   */
  GroupReport syncGroup(
      List<ControlRequest.GroupMember> members,
      boolean full,
      SnapshotOption snapshot,
      SyncProgress progress)
      throws IOException {
    if (!snapshot.on()) {
      throw new IllegalArgumentException("a consistency group is point-in-time: not --no-snapshot");
    }
    PointInTime pointInTime =
        new PointInTime(FleeceStore.scratchIn(stateDir), snapshot.fleeceLimit());
    List<TrackedImage> images = new ArrayList<>();
    List<Target> targets = new ArrayList<>();
    long start = System.nanoTime();
    List<SyncReport> committed = List.of();
    try {
      List<Syncer.Member> group = new ArrayList<>();
      for (ControlRequest.GroupMember m : members) {
        TrackedImage image = store.image(m.imageName(), () -> files.fingerprint(m.imageName()));
        Target t = m.target().open();
        images.add(image);
        targets.add(t);
        group.add(new Syncer.Member(source(m.imageName(), image, t, pointInTime), t));
      }
      try {
        committed = syncer().syncGroup(group, full, progress);
        return new GroupReport(committed, "");
      } catch (Syncer.GroupFailure e) {
        committed = e.committed();
        String cause = Errors.describe(e.getCause());
        return new GroupReport(
            committed,
            e.failedIndex() < 0
                ? cause
                : Printable.escaped(members.get(e.failedIndex()).imageName()) + ": " + cause);
      }
    } finally {
      long nanos = System.nanoTime() - start;
      IOException closing = null;
      for (int i = 0; i < targets.size(); i++) {
        observer.ended(
            images.get(i),
            targets.get(i).describe(),
            i < committed.size() ? committed.get(i) : null,
            nanos);
        try {
          targets.get(i).close();
        } catch (IOException e) {
          closing = closing == null ? e : closing;
        }
      }
      if (closing != null && committed.size() == targets.size()) {
        throw closing;
      }
    }
  }

  private Syncer syncer() {
    return new Syncer(Syncer.DEFAULT_RECORD_BYTES, syncThreads);
  }

  /**
   * What a sync of the image {@code name} to {@code target} reads: its backing file, once the
   * target is known to lie apart from what the mount serves and keeps.
   */
  private SyncSource source(String name, TrackedImage image, Target target, PointInTime pointInTime)
      throws IOException {
    Path backing = files.backingFile(name);
    TargetPlacement.requireApart(target, backing, files.backingDir(), stateDir, mountPoint);
    return new SyncSource(image, backing, pointInTime);
  }

  /**
   * The status of an image being served.
   *
   * @param transport the FUSE transport serving it
   */
  ImageStatus status(String name, String transport) throws IOException {
    Path backing = files.existingImage(name);
    long size = Files.size(backing);
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
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
        TargetStatus.of(image.targets(), cursors.clock().instant()),
        transport);
  }

  /**
   * Drops the cursor {@code target} of the image.
   *
   * @throws CbtfsException if it has no such cursor, naming those it has
   */
  void forget(String name, String target) throws IOException {
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
    if (!image.forget(target)) {
      throw noSuchTarget(name, target, cursorNames(image));
    }
  }

  /**
   * What the image's target {@code target} lacks (empty: the target furthest behind), counted in at
   * most {@code maxCells} cells.
   *
   * @throws CbtfsException if it has no such cursor, or what it lacks is not known
   */
  DirtyCells cells(String name, String target, int maxCells) throws IOException {
    Path backing = files.existingImage(name);
    long size = Files.size(backing);
    TrackedImage image = store.image(name, () -> files.fingerprint(name));
    DirtySet dirty;
    if (target.isEmpty()) {
      dirty = image.dirtyBlocks();
    } else {
      // empty both for no such cursor and for an unknown lack: the cursors are listed (every
      // target's lag worked out) only to tell which, on the way to the error
      dirty = image.lacks(target).orElse(null);
      if (dirty == null) {
        List<String> known = cursorNames(image);
        throw known.contains(target) ? unknownLack(target) : noSuchTarget(name, target, known);
      }
    }
    return DirtyCells.count(target, dirty, size, maxCells);
  }

  private static List<String> cursorNames(TrackedImage image) {
    return image.targets().stream().map(t -> t.cursor().target()).toList();
  }

  /** The image has no cursor {@code target}: the message names those it has. */
  static CbtfsException noSuchTarget(String imageName, String target, List<String> known) {
    return new CbtfsException(
        Printable.escaped(imageName)
            + " has no target "
            + Printable.escaped(target)
            + (known.isEmpty()
                ? "; it has no targets"
                : "; its targets: "
                    + String.join(", ", known.stream().map(Printable::escaped).toList())));
  }

  /** The next sync to {@code target} compares every block: what it lacks is not known. */
  static CbtfsException unknownLack(String target) {
    return new CbtfsException(
        "what "
            + Printable.escaped(target)
            + " lacks is not known: its next sync compares every block with it");
  }

  /**
   * Syncs with no mount running: the saved state is loaded (and recovered), then saved again, clean
   * either way.
   */
  static SyncReport offline(
      Path backing,
      ImageLocator loc,
      TargetAddress target,
      boolean full,
      SyncProgress progress,
      TrackingOptions.Cursors cursors,
      SyncObserver observer)
      throws IOException {
    return offline(
        backing,
        loc,
        cursors,
        observer,
        host -> host.sync(loc.imageName(), target, full, progress),
        SyncReport::withWarning);
  }

  /**
   * Forgets a cursor with no mount running, the way {@link #offline} syncs.
   *
   * @return a warning for the operator, empty if none: the cursor is gone either way
   */
  static String forgetOffline(
      Path backing, ImageLocator loc, String target, TrackingOptions.Cursors cursors)
      throws IOException {
    if (StateFiles.readState(loc.stateDir(), loc.imageName()).isEmpty()) {
      throw new CbtfsException(
          backing
              + " is not tracked: no state for '"
              + Printable.escaped(loc.imageName())
              + "' in "
              + loc.stateDir());
    }
    return offline(
        backing,
        loc,
        cursors,
        SyncObserver.NONE,
        host -> {
          host.forget(loc.imageName(), target);
          return "";
        },
        (none, warning) -> warning);
  }

  private interface OfflineWork<R> {
    R run(SyncHost host) throws IOException;
  }

  /**
   * Runs {@code work} on the saved state of one image: loaded (and recovered) from the state
   * directory, then saved again clean either way, so the next run needs no recovery.
   *
   * @param warn {@code work}'s result with a warning: it stands when only the save after it failed
   */
  private static <R> R offline(
      Path backing,
      ImageLocator loc,
      TrackingOptions.Cursors cursors,
      SyncObserver observer,
      OfflineWork<R> work,
      BiFunction<R, String, R> warn)
      throws IOException {
    if (!Files.isRegularFile(backing, LinkOption.NOFOLLOW_LINKS)) {
      throw new CbtfsException("no image at " + backing);
    }
    ImageFiles files = new ImageFiles(backing.getParent(), loc.stateDir());
    String name = loc.imageName();
    try (TrackerStore store =
        TrackerStore.open(
            loc.stateDir(),
            TrackingOptions.defaults(BlockGeometry.defaults()).withCursors(cursors))) {
      R result;
      try {
        result =
            work.run(
                new SyncHost(
                    store,
                    files,
                    loc.stateDir(),
                    null,
                    Runtime.getRuntime().availableProcessors(), // no budget: the JVM's own limits
                    cursors,
                    observer));
      } catch (IOException | RuntimeException e) {
        try {
          saveClean(store, files, name);
        } catch (IOException | RuntimeException again) {
          e.addSuppressed(again);
        }
        throw e;
      }
      try {
        saveClean(store, files, name);
      } catch (IOException | RuntimeException e) { // what it did stands: a warning
        return warn.apply(result, "the tracking state was not saved: " + e.getMessage());
      }
      return result;
    }
  }

  /** Saves the image's tracking with its backing file's fingerprint as of now. */
  private static void saveClean(TrackerStore store, ImageFiles files, String name)
      throws IOException {
    store.closeClean(Map.of(name, files.fingerprint(name)));
  }
}
