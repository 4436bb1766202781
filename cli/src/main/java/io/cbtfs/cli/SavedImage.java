package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.ChangeHistory;
import io.cbtfs.tracker.Cursor;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackerState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The tracking of an image that no mount serves, as {@code status} reads it: the saved state and
 * what recovery makes of it, read only (nothing is saved back).
 *
 * @param size the backing file's size, or the saved one when the image is named under a mount
 */
record SavedImage(TrackerState state, StateRecovery.Recovered recovered, long size) {

  /**
   * Reads the saved state of {@code image}.
   *
   * @throws CbtfsException if the image is not tracked
   */
  static SavedImage read(Path image, ImageLocator loc) throws IOException {
    TrackerState state =
        StateFiles.readState(loc.stateDir(), loc.imageName())
            .orElseThrow(
                () ->
                    new CbtfsException(
                        image
                            + " is not tracked: no state for '"
                            + loc.imageName()
                            + "' in "
                            + loc.stateDir()
                            + " (serve its folder with 'cbtfs mount' first)"));
    Path backing = image.toAbsolutePath();
    long size =
        loc.mountPoint().isEmpty() && Files.isRegularFile(backing)
            ? Files.size(backing)
            : state.imageSize();
    return new SavedImage(
        state, StateRecovery.recover(loc.stateDir(), loc.imageName(), state), size);
  }

  /** What the target furthest behind lacks: the live set and every generation the history keeps. */
  DirtySet dirty() {
    return recovered
        .dirty()
        .union(
            DirtySet.of(
                state.geometry(), new ChangeHistory(state.geometry(), recovered.history()).all()))
        .within(size);
  }

  /**
   * What the target whose cursor is {@code target} lacks.
   *
   * @throws CbtfsException if it has no such cursor (naming those it has), or its next sync
   *     compares every block
   */
  DirtySet lacks(String imageName, String target) {
    List<Cursor> cursors = new ChangeHistory(state.geometry(), recovered.history()).cursors();
    for (Cursor c : cursors) {
      if (c.target().equals(target)) {
        DirtySet lacks = recovered.lacks(c.generation());
        if (lacks == null) {
          throw SyncHost.unknownLack(target);
        }
        return lacks.within(size);
      }
    }
    throw SyncHost.noSuchTarget(imageName, target, cursors.stream().map(Cursor::target).toList());
  }
}
