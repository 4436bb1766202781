package io.cbtfs.cli;

import io.cbtfs.fs.overlay.OverlayFile;
import io.cbtfs.fs.overlay.SavedBlocks;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.BitSet;
import org.roaringbitmap.RoaringBitmap;

/**
 * An overlay's files ({@code DIR/NAME@N.img}, {@code .present}, {@code .written}) read and checked
 * for {@code cbtfs adopt}, before anything is moved: the generation it lies over, the blocks
 * written over it, and whether the maps can be trusted to name every block that differs from the
 * generation.
 *
 * @param distrust why the written blocks cannot be trusted (one clause), or null when both maps are
 *     sealed intact by a clean unmount and the file is as it was then
 */
record AdoptableOverlay(
    Path image,
    Path presentFile,
    Path writtenFile,
    OverlayBase base,
    long byteSize,
    DirtySet written,
    String distrust) {

  /**
   * Reads the overlay {@code DIR/STEM.img}.
   *
   * @param geometry the tracking blocks to express the written blocks in
   * @throws CbtfsException when it is no whole overlay (missing, a symbolic link, maps of another
   *     image, not hydrated)
   */
  static AdoptableOverlay read(Path dir, String stem, BlockGeometry geometry) throws IOException {
    Path image = dir.resolve(stem + ".img");
    Path presentFile = dir.resolve(stem + ".present");
    Path writtenFile = dir.resolve(stem + ".written");
    if (Files.isSymbolicLink(image)) {
      throw new CbtfsException(
          image
              + " is a symbolic link (to "
              + Files.readSymbolicLink(image)
              + "): give the overlay's file itself");
    }
    if (!Files.isRegularFile(image, LinkOption.NOFOLLOW_LINKS)
        || !Files.exists(presentFile)
        || !Files.exists(writtenFile)) {
      throw new CbtfsException(
          image
              + " is no overlay (it needs "
              + presentFile
              + " and "
              + writtenFile
              + " beside it)");
    }
    SavedBlocks.Contents written = SavedBlocks.read(writtenFile);
    SavedBlocks.Contents present = SavedBlocks.read(presentFile);
    if (!present.header().equals(written.header())) {
      throw new CbtfsException(
          presentFile
              + " maps "
              + present.header().base()
              + " ("
              + present.header().imageSize()
              + " bytes), "
              + writtenFile
              + " maps "
              + written.header().base()
              + " ("
              + written.header().imageSize()
              + " bytes): they are not one overlay's maps");
    }
    SavedBlocks.Header h = written.header();
    OverlayBase base = OverlayBase.parse(h.base(), writtenFile);
    long size = Files.size(image);
    if (size != h.imageSize()) {
      throw new CbtfsException(
          image + " has " + size + " bytes, " + writtenFile + " says " + h.imageSize());
    }
    long blocks = (size + h.blockSize() - 1) / h.blockSize();
    long held = present.blocks().cardinality();
    if (held != blocks) {
      throw new CbtfsException(
          image
              + " is not hydrated yet ("
              + held
              + " of "
              + blocks
              + " blocks held): mount it again with --hydrate until it is the whole image");
    }
    return new AdoptableOverlay(
        image,
        presentFile,
        writtenFile,
        base,
        size,
        inTrackingBlocks(written.blocks(), h.blockSize(), size, geometry),
        distrust(image, dir, stem, written, present));
  }

  /** Why the maps do not vouch for the file as it is now, or null. */
  private static String distrust(
      Path image, Path dir, String stem, SavedBlocks.Contents written, SavedBlocks.Contents present)
      throws IOException {
    Path marker = OverlayFile.distrustFile(dir, stem);
    if (Files.exists(marker)) { // a mount opened maps it could not vouch for; sealed again since
      String why = Files.readString(marker, java.nio.charset.StandardCharsets.UTF_8).strip();
      return image + ": a mount found " + (why.isEmpty() ? "its maps unsealed" : why);
    }
    return SavedBlocks.doubt(image, written, present);
  }

  /** The overlay's written blocks as blocks of {@code geometry}: each byte written is covered. */
  private static DirtySet inTrackingBlocks(
      BitSet overlayBlocks, int overlayBlockBytes, long byteSize, BlockGeometry geometry) {
    RoaringBitmap out = new RoaringBitmap();
    for (int b = overlayBlocks.nextSetBit(0); b >= 0; b = overlayBlocks.nextSetBit(b + 1)) {
      long start = (long) b * overlayBlockBytes;
      long end = Math.min(start + overlayBlockBytes, byteSize);
      out.add(geometry.blockIndex(start), geometry.blockIndex(end - 1) + 1);
    }
    return DirtySet.of(geometry, out);
  }
}
