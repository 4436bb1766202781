package io.cbtfs.syncer.local;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.AtomicFile;
import io.cbtfs.tracker.FileStateIo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * What a replica or archive remembers of itself: lineage, generation, image and block size, in a
 * small CRC-checked file replaced with {@link AtomicFile} (temp, fsync, rename, fsync of the
 * folder).
 */
final class SidecarMeta {
  private static final byte[] MAGIC = "CBTFSTM1".getBytes(StandardCharsets.US_ASCII);
  private static final int BYTES = 8 + 16 + 8 + 8 + 4 + 4;

  private SidecarMeta() {}

  static TargetState read(Path file) throws IOException {
    byte[] b;
    try {
      b = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return TargetState.EMPTY;
    }
    return parse(b, file.toString());
  }

  /** What {@code b}, the bytes of the metadata file {@code source}, records. */
  static TargetState parse(byte[] b, String source) {
    CRC32C crc = new CRC32C();
    crc.update(b, 0, Math.max(0, b.length - 4));
    if (b.length != BYTES
        || !Arrays.equals(Arrays.copyOf(b, 8), MAGIC)
        || ByteBuffer.wrap(b, BYTES - 4, 4).getInt() != (int) crc.getValue()) {
      throw new CorruptDeltaException(
          source,
          "target metadata is corrupt; move it away "
              + "and sync with --full to rebuild the target");
    }
    ByteBuffer in = ByteBuffer.wrap(b, 8, BYTES - 8);
    UUID lineage = new UUID(in.getLong(), in.getLong());
    long generation = in.getLong();
    long imageSize = in.getLong();
    return new TargetState(true, lineage, generation, imageSize);
  }

  /**
   * Replaces what {@code file} records, {@code previous}, with {@code next}: a target's commit
   * point. If the new record cannot be made durable, puts {@code previous} back where it can (an
   * empty state by removing the file), so that a failed commit leaves the target as it was.
   */
  static void commit(Path file, TargetState previous, TargetState next) throws IOException {
    try {
      write(file, next);
    } catch (IOException | RuntimeException e) {
      CommitPoint.undo(
          e,
          () -> {
            if (previous.exists()) {
              write(file, previous);
            } else if (Files.deleteIfExists(file)) {
              FileStateIo.INSTANCE.fsyncDirectory(file.getParent());
            }
          });
      throw e;
    }
  }

  static void write(Path file, TargetState state) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(BYTES);
    b.put(MAGIC)
        .putLong(state.lineage().getMostSignificantBits())
        .putLong(state.lineage().getLeastSignificantBits())
        .putLong(state.generation())
        .putLong(state.imageSize())
        .putInt(0);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, b.position());
    b.putInt((int) crc.getValue());
    AtomicFile.replace(file, b.array());
  }
}
