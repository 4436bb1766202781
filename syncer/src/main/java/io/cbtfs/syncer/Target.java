package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * A place a sync ships deltas to: a replica image, a backup archive, a remote receiver. Close it
 * when done: a remote target keeps the connection that answered {@link #state} for the {@link
 * #begin} that follows.
 */
public interface Target extends AutoCloseable {
  /** The URI form, e.g. {@code file:/backup/vm1.img}. */
  String describe();

  /** What the target holds now (after finishing any interrupted apply). */
  TargetState state() throws IOException;

  /**
   * Starts a delivery of a delta with {@code header}.
   *
   * @param allowNewLineage accept a full delta from another image (explicit overwrite)
   * @throws io.cbtfs.tracker.CbtfsException if the target refuses the delta (nothing changed)
   */
  Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException;

  /**
   * Whether a failed delivery to this target may leave a verified part of it for the next one to
   * reuse ({@link #beginResuming}); a remote receiver's, in clear.
   */
  default boolean keepsAttempts() {
    return false;
  }

  /**
   * {@link #begin} of a delta that may reuse what the target kept of an earlier failed attempt of
   * the same lineage and base ({@link Delivery#kept}); the target keeps what it verifies of this
   * one if it fails too. Never overwrites another image.
   */
  default Delivery beginResuming(DeltaHeader header) throws IOException {
    return begin(header, false);
  }

  /**
   * The unit the target stores, in bytes: a sync sends every block of each unit it touches, so that
   * a unit's chunk depends only on its bytes (0: any block on its own).
   */
  default long granuleBytes() {
    return 0;
  }

  /**
   * Compares the target's latest generation with {@code image} block by block, below the smaller of
   * the two sizes; callers ask {@link #differing(Target, FileChannel, long, BlockGeometry, long)},
   * which adds what the sizes decide.
   *
   * @return the stored size and the blocks that differ below the smaller size (at most {@code
   *     limit} of them), or {@link Comparison#nothingStored} for an empty target
   * @throws UnsupportedOperationException if the target cannot compare (the caller then takes every
   *     block as different)
   */
  Comparison compare(FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException;

  /**
   * The blocks where {@code target}'s latest generation differs from {@code image}: at most {@code
   * limit} of them, the lowest; empty if equal. An empty target differs everywhere, and every block
   * an image grew by differs ({@link Comparison#differing}).
   */
  static DirtySet differing(
      Target target, FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    return target.compare(image, imageSize, geometry, limit).differing(imageSize, geometry, limit);
  }

  /**
   * The file or folder this target writes on this machine, if it is local: a sync refuses a target
   * that would overwrite its own image or be served by the mount as images.
   */
  default java.util.Optional<java.nio.file.Path> localPath() {
    return java.util.Optional.empty();
  }

  /** What to do about a target that holds another image, for most targets. */
  String OVERWRITE_ADVICE = "sync with --full to overwrite it with a full copy";

  /** What to do about this target holding another image (a refusal says it). */
  default String otherImageAdvice() {
    return OVERWRITE_ADVICE;
  }

  /**
   * The key a delta's records are sealed with on their way to this target (an encrypted archive,
   * local or behind a receiver), or null: records in clear (a target that encrypts what it stores
   * itself, as S3 does, takes them in clear).
   */
  default io.cbtfs.syncer.crypto.EncryptionKey recordKey() {
    return null;
  }

  /** Releases what the target holds between calls (a connection); nothing for most. */
  @Override
  default void close() throws IOException {}
}
