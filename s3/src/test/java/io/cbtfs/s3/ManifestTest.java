package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class ManifestTest {
  static final int BS = 4096;
  static final UUID LINEAGE = UUID.randomUUID();

  static Manifest.Header header(long gen, long blocks) {
    return new Manifest.Header(LINEAGE, blocks * BS - 100, BS, gen, gen - 1, gen == 1, 0);
  }

  static byte[] hashOf(int id) {
    return ByteBuffer.allocate(32).putInt(id).array();
  }

  /** What block b holds in the model: "chunk:posInChunk", or null for zero. */
  static String[] model(Manifest m, long blocks) {
    String[] out = new String[(int) blocks];
    for (int e = 0; e < m.extentCount(); e++) {
      for (int i = 0; i < m.extentBlocks(e); i++) {
        out[(int) m.extentFirst(e) + i] = m.chunkHex(m.extentChunk(e)) + ":" + (m.extentPos(e) + i);
      }
    }
    return out;
  }

  /** Random overlays of random pieces match a block-by-block model, and survive encoding. */
  @Test
  void overlayMatchesABlockByBlockModel() {
    Random r = new Random(1);
    for (int round = 0; round < 200; round++) {
      long blocks = 1 + r.nextInt(300);
      String[] truth = new String[(int) blocks];
      Manifest m = null;
      int nextChunk = 0;
      for (long gen = 1; gen <= 4; gen++) {
        long size = 1 + r.nextInt(300);
        if (gen > 1) {
          for (long b = size; b < blocks; b++) {
            truth[(int) b] = null; // the image shrank
          }
        }
        String[] grown = Arrays.copyOf(truth, (int) size);
        truth = grown;
        blocks = size;
        List<Manifest.Piece> pieces = new ArrayList<>();
        long at = 0;
        while (true) {
          at += r.nextInt(20);
          int n = 1 + r.nextInt(16);
          if (at + n > blocks) {
            break;
          }
          boolean zero = r.nextInt(4) == 0;
          int id = nextChunk++;
          pieces.add(new Manifest.Piece(at, n, zero ? null : hashOf(id), n * BS));
          for (int i = 0; i < n; i++) {
            truth[(int) at + i] = zero ? null : ChunkObject.hex(hashOf(id)) + ":" + i;
          }
          at += n;
        }
        if (gen == 1) {
          Arrays.fill(truth, null);
          for (Manifest.Piece p : pieces) {
            for (int i = 0; i < p.blockCount(); i++) {
              truth[(int) p.firstBlock() + i] =
                  p.hash() == null ? null : ChunkObject.hex(p.hash()) + ":" + i;
            }
          }
        }
        m = Manifest.overlay(header(gen, blocks), gen == 1 ? null : m, pieces);
        assertThat(model(m, blocks)).as("round %d gen %d", round, gen).containsExactly(truth);
        Manifest again = Manifest.decode(m.encode(), "test");
        assertThat(model(again, blocks)).containsExactly(truth);
      }
    }
  }

  @Test
  void everyFlippedByteIsRefused() {
    List<Manifest.Piece> pieces =
        List.of(
            new Manifest.Piece(0, 3, hashOf(1), 3 * BS), new Manifest.Piece(5, 2, hashOf(2), 8000));
    byte[] good = Manifest.overlay(header(1, 8), null, pieces).encode();
    for (int i = 0; i < good.length; i++) {
      byte[] bad = good.clone();
      bad[i] ^= 1;
      assertThatThrownBy(() -> Manifest.decode(bad, "s3://b/m"))
          .isInstanceOf(DamagedObjectException.class)
          .hasMessageStartingWith("s3://b/m: ");
    }
    assertThatThrownBy(() -> Manifest.decode(Arrays.copyOf(good, good.length - 1), "m"))
        .isInstanceOf(DamagedObjectException.class);
  }

  @Test
  void aChunkObjectIsCheckedAgainstItsName() {
    ChunkObject codec = new ChunkObject();
    byte[] data = new byte[100_000];
    new Random(2).nextBytes(data);
    Arrays.fill(data, 0, 50_000, (byte) 7); // half compressible
    String name = ChunkObject.hex(ChunkObject.hash(data, data.length));
    byte[] object = codec.encode(data, data.length).toBytes();
    assertThat(object.length).isLessThan(data.length);
    assertThat(codec.decode(object, name, "c")).isEqualTo(data);
    object[object.length / 2] ^= 1;
    assertThatThrownBy(() -> codec.decode(object, name, "c"))
        .isInstanceOf(DamagedObjectException.class);
  }
}
