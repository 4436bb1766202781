package io.cbtfs.syncer.local;

import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/** A target that keeps every generation (an archive, an object store): restore any of them. */
public interface Restorable extends Target {
  /**
   * One stored generation.
   *
   * @param created when it was committed (null if the store does not say)
   * @param storedBytes the bytes this generation added to the store (-1 if unknown)
   */
  record Generation(
      long generation, boolean full, long imageSize, Instant created, long storedBytes) {}

  /** The generations held, oldest first. */
  List<Generation> generations() throws IOException;

  /**
   * Writes the image as of {@code generation} to {@code out}, a new file. Whatever was stored is
   * checked before it is trusted; a damaged part is named in the error.
   */
  DeltaHeader restore(long generation, Path out, RestoreProgress progress) throws IOException;

  /**
   * Opens {@code generation} for reading in place: an index of where each of its bytes is stored is
   * built now (from the deltas' headers, or the manifest), and bytes are fetched and verified as
   * they are read, through {@code cache}. Close it to free what it holds.
   */
  StoredImage open(long generation, PieceCache cache) throws IOException;

  /**
   * Refuses {@code generation}, in one line, if it is encrypted and this store was given no key or
   * another one: checked from what names the key (headers, a manifest), before a byte is served.
   */
  default void requireKeyFor(long generation) throws IOException {}

  /** Against the latest generation; an empty store holds nothing. */
  @Override
  default Comparison compare(FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    TargetState s = state();
    if (!s.exists()) {
      return Comparison.nothingStored();
    }
    return compare(s.generation(), image, imageSize, geometry, limit);
  }

  /** Like {@link Target#compare} against {@code generation} instead of the latest. */
  Comparison compare(
      long generation, FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException;

  /**
   * Like {@link Target#differing(Target, FileChannel, long, BlockGeometry, long)} against {@code
   * generation} of {@code store} instead of the latest.
   */
  static DirtySet differing(
      Restorable store,
      long generation,
      FileChannel image,
      long imageSize,
      BlockGeometry geometry,
      long limit)
      throws IOException {
    return store
        .compare(generation, image, imageSize, geometry, limit)
        .differing(imageSize, geometry, limit);
  }

  /** Receives restore progress: bytes written so far of the image's total. */
  @FunctionalInterface
  interface RestoreProgress {
    RestoreProgress NONE = (done, total) -> {};

    void update(long doneBytes, long totalBytes);
  }
}
