package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An archive's generations read in place ({@link ArchiveTarget#open}) against their restores. */
class StoredImageTest {
  @TempDir Path tmp;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);
  ArchiveTarget archive;
  byte[][] images = new byte[6][];

  @BeforeEach
  void fiveGenerations() throws IOException {
    fx = new SyncFixture(tmp, 4 << 20, 1);
    archive = new ArchiveTarget(tmp.resolve("archive"), key());
    Random rnd = new Random(5);
    for (int gen = 1; gen <= 5; gen++) {
      if (gen == 3) { // grows
        fx.write((5 << 20) + 4321, random(70_000, rnd.nextLong()));
      } else if (gen == 4) { // shrinks, then writes zeros and data
        long newSize = (3 << 20) + 777;
        long old = Files.size(fx.image);
        fx.tracked.beforeWrite(newSize, old - newSize);
        try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
          ch.truncate(newSize);
        }
        fx.tracked.afterWrite(newSize, old - newSize);
        fx.write(1 << 20, new byte[200_000]);
      } else if (gen == 5) { // grows again: what the shrink cut off must read as zeros
        fx.write((4 << 20) + 100, random(5000, rnd.nextLong()));
        fx.write(rnd.nextInt(3 << 20), random(90_000, rnd.nextLong()));
      } else if (gen > 1) {
        for (int w = 0; w < 5; w++) {
          fx.write(rnd.nextInt(3 << 20), random(1 + rnd.nextInt(100_000), rnd.nextLong()));
        }
      }
      syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
      images[gen] = Files.readAllBytes(fx.image);
    }
  }

  /** The key the archive seals its records with: none here (see {@code SealedStoredImageTest}). */
  EncryptionKey key() {
    return null;
  }

  /** What a damaged record's read throws. */
  Class<? extends CbtfsException> damage() {
    return CorruptDeltaException.class;
  }

  @AfterEach
  void close() throws IOException {
    fx.close();
  }

  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void everyGenerationReadsAsItsRestoreInAnyPiecesAndItsHolesAreZero() throws IOException {
    PieceCache cache = new PieceCache(300 << 10); // smaller than an image: evictions happen
    Random rnd = new Random(9);
    for (int gen = 1; gen <= 5; gen++) {
      Path restored = tmp.resolve("restored-" + gen);
      archive.restore(gen, restored, Restorable.RestoreProgress.NONE);
      byte[] expected = Files.readAllBytes(restored);
      assertThat(Arrays.mismatch(expected, images[gen])).isEqualTo(-1);
      try (StoredImage image = archive.open(gen, cache)) {
        assertThat(image.imageSize()).isEqualTo(expected.length);
        byte[] got = new byte[expected.length];
        for (int at = 0; at < got.length; ) {
          int n = Math.min(1 + rnd.nextInt(300_000), got.length - at);
          byte[] part = new byte[n];
          Arrays.fill(part, (byte) 0x5a); // a read must overwrite everything it returns
          image.read(at, part, n);
          System.arraycopy(part, 0, got, at, n);
          at += n;
        }
        assertThat(Arrays.mismatch(got, expected))
            .as("first byte that differs, generation %d", gen)
            .isEqualTo(-1);
        for (long at = 0; at < got.length; ) {
          long hole = image.next(at, true);
          long data = hole < got.length ? image.next(hole, false) : got.length;
          for (long i = hole; i < data; i++) {
            assertThat(got[(int) i]).as("hole byte %d of generation %d", i, gen).isZero();
          }
          assertThat(data).isGreaterThan(at);
          at = data;
        }
        assertThat(cache.bytes()).isLessThanOrEqualTo(300 << 10);
      }
    }
  }

  @Test
  void aDamagedRecordFailsTheReadsThatTouchItAndNoOthers() throws IOException {
    damagedRecordFailsExactlyItsRange(false);
  }

  /**
   * Damages the first data record of generation 2's delta, before the generation is opened or (if
   * {@code openFirst}) after it was indexed, and reads around it.
   */
  void damagedRecordFailsExactlyItsRange(boolean openFirst) throws IOException {
    Path delta = tmp.resolve("archive").resolve("gen-00000002.cbtd");
    DeltaIndex.Entry hit;
    try (FileChannel ch = FileChannel.open(delta)) {
      hit =
          DeltaIndex.of(ch, delta.toString(), key()).entries().stream()
              .filter(e -> e.kind() != RecordKind.ZERO)
              .findFirst()
              .orElseThrow();
    }
    StoredImage opened = openFirst ? archive.open(2, new PieceCache(1 << 20)) : null;
    try (RandomAccessFile f = new RandomAccessFile(delta.toFile(), "rw")) {
      long at = hit.payloadAt() + hit.payloadLength() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x10);
    }
    try (StoredImage image = openFirst ? opened : archive.open(2, new PieceCache(1 << 20))) {
      byte[] buf = new byte[4096];
      assertThatThrownBy(() -> image.read(hit.byteOffset(), buf, 1))
          .isInstanceOf(damage())
          .hasMessageContaining(delta.toString());
      long end = hit.byteOffset() + hit.byteLength();
      assertThatThrownBy(() -> image.read(end - 1, buf, 1)).isInstanceOf(damage());
      if (hit.byteOffset() > 0) {
        image.read(hit.byteOffset() - 1, buf, 1);
        assertThat(buf[0]).isEqualTo(images[2][(int) hit.byteOffset() - 1]);
      }
      image.read(end, buf, 1);
      assertThat(buf[0]).isEqualTo(images[2][(int) end]);
    }
  }
}
