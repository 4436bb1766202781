package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.overlay.OverlayFile;
import io.cbtfs.fs.overlay.SavedBlocks;
import io.cbtfs.syncer.Printable;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.FileStateIo;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The moving part of {@code cbtfs adopt}, once every check passed: link the overlay file into
 * FOLDER (never over a name), save its tracking, and only then remove the overlay's names. A
 * failure before the overlay file's own name is removed undoes what was made (the link, the state)
 * and leaves the overlay as it was; after it, the image is adopted and what is left to tidy is said
 * in one line each.
 */
final class Adoption {
  private final AdoptableOverlay overlay;
  private final ImageFiles images;
  private final Path stateDir;
  private final String imageName;
  private final String cursor;
  private final PrintWriter out;

  Adoption(
      AdoptableOverlay overlay,
      ImageFiles images,
      Path stateDir,
      String imageName,
      String cursor,
      PrintWriter out) {
    this.overlay = overlay;
    this.images = images;
    this.stateDir = stateDir;
    this.imageName = imageName;
    this.cursor = cursor;
    this.out = out;
  }

  void run() throws IOException {
    Path dest = images.backingFile(imageName);
    Path backingDir = dest.getParent();
    TrackingOptions options = TrackingOptions.defaults(BlockGeometry.defaults());
    try (TrackerStore store = TrackerStore.open(stateDir, options)) {
      if (StateFiles.readState(stateDir, imageName).isPresent()) {
        throw new CbtfsException(
            "'" + imageName + "' is tracked in " + stateDir + " already: choose another --name");
      }
      link(dest);
      boolean saved = false;
      try {
        FileStateIo.INSTANCE.fsyncDirectory(backingDir);
        store.adopt(
            imageName,
            overlay.base().lineage(),
            overlay.base().generation(),
            cursor,
            overlay.written(),
            images.fingerprint(imageName),
            overlay.distrust() != null);
        saved = true;
        Files.delete(overlay.image()); // the commit point: the file is FOLDER's image now
      } catch (IOException | RuntimeException e) {
        undo(store, saved, dest, e);
        throw new CbtfsException(
            "cannot adopt "
                + overlay.image()
                + " ("
                + Errors.describe(e)
                + "): nothing was moved, the overlay is as it was");
      }
      tidy(store, backingDir);
    }
  }

  private void link(Path dest) throws IOException {
    try {
      Files.createLink(dest, overlay.image()); // never over a file of that name
    } catch (FileAlreadyExistsException e) {
      throw new CbtfsException(dest + " exists already: choose another --name");
    } catch (IOException e) {
      throw new CbtfsException(
          "cannot link " + overlay.image() + " into " + dest + ": " + Errors.describe(e));
    }
  }

  private void undo(TrackerStore store, boolean saved, Path dest, Exception cause) {
    try {
      if (saved) {
        store.remove(imageName);
      }
      Files.deleteIfExists(dest);
      if (overlay.distrust() == null) {
        // the link and its removal changed the file's ctime, nothing else: still trusted
        Fingerprint now = ImageFiles.fingerprintOf(overlay.image());
        SavedBlocks.reseal(overlay.writtenFile(), now);
        SavedBlocks.reseal(overlay.presentFile(), now);
      }
    } catch (IOException | RuntimeException e) {
      cause.addSuppressed(e);
    }
  }

  /**
   * After the commit point: the state again with the file's fingerprint now (removing a name
   * changed its ctime; left stale, the first mount would compare every block), then the maps.
   */
  private void tidy(TrackerStore store, Path backingDir) {
    try {
      FileStateIo.INSTANCE.fsyncDirectory(overlay.image().getParent());
      store.refingerprint(imageName, images.fingerprint(imageName));
    } catch (IOException | RuntimeException e) {
      out.printf(
          "cbtfs adopt: the tracking of %s is saved, but not with the file's fingerprint (%s): its"
              + " first sync compares every block%n",
          Printable.escaped(images.backingFile(imageName).toString()),
          Printable.escaped(Errors.describe(e)));
    }
    Path marker =
        OverlayFile.distrustFile(
            overlay.image().getParent(), stripImg(overlay.image().getFileName().toString()));
    for (Path map : new Path[] {overlay.presentFile(), overlay.writtenFile(), marker}) {
      if (map == marker && !Files.exists(marker)) {
        continue;
      }
      try {
        Files.delete(map);
      } catch (IOException e) {
        out.printf(
            "cbtfs adopt: %s is left (%s): remove it%n",
            Printable.escaped(map.toString()), Printable.escaped(Errors.describe(e)));
      }
    }
  }

  private static String stripImg(String fileName) {
    return fileName.endsWith(".img") ? fileName.substring(0, fileName.length() - 4) : fileName;
  }
}
