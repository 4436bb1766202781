package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.local.Targets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** A generation in the object store read in place ({@link S3Target#open}) against its restore. */
class S3StoredImageTest extends S3ServerTest {
  S3Target target() {
    return (S3Target) Targets.parse(server.uri(bucket + "/fleet/vm1"), tmp);
  }

  List<byte[]> fiveGenerations(S3Target t) throws IOException {
    List<byte[]> images = new ArrayList<>();
    Random r = new Random(3);
    for (int gen = 1; gen <= 5; gen++) {
      if (gen > 1) {
        for (int i = 0; i < 3; i++) {
          fx.write(r.nextInt((4 << 20) - 100_000), random(1 + r.nextInt(90_000), r.nextLong()));
        }
      }
      syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      images.add(Files.readAllBytes(fx.image));
    }
    return images;
  }

  @Test
  void everyGenerationReadsAsItsRestore() throws IOException {
    S3Target t = target();
    List<byte[]> images = fiveGenerations(t);
    PieceCache cache = new PieceCache(2 << 20);
    Random r = new Random(4);
    for (int gen = 1; gen <= 5; gen++) {
      Path out = tmp.resolve("restored-" + gen);
      t.restore(gen, out, Restorable.RestoreProgress.NONE);
      byte[] expected = Files.readAllBytes(out);
      assertThat(Arrays.mismatch(expected, images.get(gen - 1))).isEqualTo(-1);
      try (StoredImage image = t.open(gen, cache)) {
        byte[] got = new byte[expected.length];
        for (int at = 0; at < got.length; ) {
          int n = Math.min(1 + r.nextInt(400_000), got.length - at);
          byte[] part = new byte[n];
          image.read(at, part, n);
          System.arraycopy(part, 0, got, at, n);
          at += n;
        }
        assertThat(Arrays.mismatch(got, expected)).as("generation %d", gen).isEqualTo(-1);
        assertThat(cache.peakBytes()).isLessThanOrEqualTo(2 << 20);
      }
    }
  }

  /** A chunk whose bytes do not match its name fails the reads of its cell, and only those. */
  @Test
  void aDamagedChunkFailsItsCellAndNoOther() throws IOException {
    S3Target t = target();
    List<byte[]> images = fiveGenerations(t);
    // damage every chunk that holds the image's second MiB as of generation 1
    byte[] cell = Arrays.copyOfRange(images.get(0), 1 << 20, 2 << 20);
    String hex = ChunkObject.hex(ChunkObject.hash(cell, cell.length));
    Path chunk;
    try (Stream<Path> files = Files.walk(server.bucketDir(bucket))) {
      chunk = files.filter(p -> p.getFileName().toString().equals(hex)).findFirst().orElseThrow();
    }
    byte[] object = Files.readAllBytes(chunk);
    object[object.length - 1] ^= 1;
    Files.write(chunk, object);
    try (StoredImage image = t.open(1, new PieceCache(8 << 20))) {
      byte[] buf = new byte[4096];
      assertThatThrownBy(() -> image.read((1 << 20) + 5000, buf, 10))
          .isInstanceOf(DamagedObjectException.class)
          .hasMessageContaining(hex);
      image.read((1 << 20) - 4096, buf, 4096);
      assertThat(Arrays.mismatch(buf, 0, 4096, images.get(0), (1 << 20) - 4096, 1 << 20))
          .isEqualTo(-1);
      image.read(2 << 20, buf, 4096);
      assertThat(Arrays.mismatch(buf, 0, 4096, images.get(0), 2 << 20, (2 << 20) + 4096))
          .isEqualTo(-1);
    }
  }
}
