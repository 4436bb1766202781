package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/** {@code status --map}: the dirty blocks of an image counted in cells, mounted or offline. */
final class StatusMap {
  private StatusMap() {}

  /**
   * The cells of {@code image} from its running mount (counted there) or, with none, from its saved
   * state, read as {@code status} reads it.
   *
   * @param target the cursor whose lack is counted; empty for the target furthest behind
   * @throws CbtfsException if the image is not tracked, has no such cursor, or what the cursor
   *     lacks is not known
   */
  static DirtyCells query(Path image, Path stateDirOption, String target, int maxCells)
      throws IOException {
    ImageLocator loc = ImageLocator.resolve(image, stateDirOption);
    Optional<ControlChannel> control = ControlClient.connect(loc.stateDir());
    if (control.isPresent()) {
      return ControlClient.call(
          control.get(),
          new ControlRequest.Cells(loc.imageName(), target, maxCells),
          SyncProgress.NONE);
    }
    SavedImage saved = SavedImage.read(image, loc);
    DirtySet dirty = target.isEmpty() ? saved.dirty() : saved.lacks(loc.imageName(), target);
    return DirtyCells.count(target, dirty, saved.size(), maxCells);
  }
}
