package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.BlockHashes;
import io.cbtfs.tracker.Fuzz;
import io.cbtfs.tracker.Mutations;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the manifest parser, which reads what an object store returns: random bytes, valid
 * manifests (overlays of a base), and seeded mutations of them, half with their SHA-256 made right
 * again so that the checks behind it are reached. A manifest decoded encodes back to the same
 * bytes; anything refused is a {@link DamagedObjectException}; anything else, a hostile count
 * allocated or a hang fails ({@link Fuzz}). A few seconds here; {@code -Dcbtfs.fuzz.factor=N} runs
 * N times longer (bench/fuzz.sh).
 */
class ManifestFuzzTest {
  @Test
  void aManifestDecodesToWhatItEncodesOrIsRefused() {
    Fuzz.Report r =
        Fuzz.run(
            "manifest",
            6000,
            rnd ->
                switch (rnd.nextInt(4)) {
                  case 0 -> Mutations.random(rnd, rnd.nextInt(400));
                  case 1 -> valid(rnd).encode();
                  case 2 -> Mutations.mutate(valid(rnd).encode(), rnd);
                  default -> fixDigest(Mutations.mutate(valid(rnd).encode(), rnd));
                },
            ManifestFuzzTest::decode);
    assertThat(r.accepted()).isPositive();
    assertThat(r.refused()).isPositive();
  }

  /** Hostile inputs kept from the runs that prove the fuzzer catches a reader without a check. */
  @Test
  void keptHostileManifestsAreRefused() throws Exception {
    Fuzz.Report r = Fuzz.replay(getClass(), "manifest", ManifestFuzzTest::decode);
    assertThat(r.tries()).isPositive().isEqualTo(r.refused());
  }

  static boolean decode(byte[] bytes) {
    Manifest m;
    try {
      m = Manifest.decode(bytes, "fuzz");
    } catch (DamagedObjectException e) {
      return false;
    }
    byte[] again = m.encode();
    assertThat(Manifest.decode(again, "again").encode()).isEqualTo(again);
    // what a restore and a sync read of it: nothing here may throw either
    m.mappedBlocks();
    for (int e = 0; e < m.extentCount(); e++) {
      m.chunkHex(m.extentChunk(e));
    }
    return true;
  }

  /** A manifest of up to 300 blocks: a full one, or pieces laid over one. */
  private static Manifest valid(Random r) {
    int bs = 4096 << r.nextInt(5);
    UUID lineage = new UUID(r.nextLong(), r.nextLong());
    Manifest m = null;
    for (long gen = 1; gen <= 1 + r.nextInt(3); gen++) {
      long blocks = 1 + r.nextInt(300);
      Manifest.Header h =
          new Manifest.Header(
              lineage, blocks * bs - r.nextInt(bs), bs, gen, gen - 1, gen == 1, r.nextLong());
      List<Manifest.Piece> pieces = new ArrayList<>();
      long at = 0;
      while (true) {
        at += r.nextInt(20);
        int n = 1 + r.nextInt(16);
        if (at + n > blocks) {
          break;
        }
        byte[] hash = r.nextInt(4) == 0 ? null : Mutations.random(r, 32);
        pieces.add(new Manifest.Piece(at, n, hash, n * bs));
        at += n;
      }
      m = Manifest.overlay(h, m, pieces);
    }
    return m;
  }

  /** The last 32 bytes: SHA-256 of all before them, as if the mutation were written whole. */
  private static byte[] fixDigest(byte[] bytes) {
    if (bytes.length < 32) {
      return bytes;
    }
    MessageDigest d = BlockHashes.sha256();
    d.update(bytes, 0, bytes.length - 32);
    System.arraycopy(d.digest(), 0, bytes, bytes.length - 32, 32);
    return bytes;
  }
}
