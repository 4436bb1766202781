package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link PieceMap} against an oracle: a byte array written as a restore writes (records laid in
 * order, zero ranges, resizes), read back through the map.
 */
class PieceMapTest {
  @Test
  void layingPiecesOverEachOtherReadsAsApplyingThemInOrder() {
    for (long seed = 0; seed < 300; seed++) {
      Random rnd = new Random(seed);
      int size = 1 + rnd.nextInt(5000);
      int[] oracle = new int[size]; // per byte: piece * 10000 + offset in piece + 1; 0: zero
      PieceMap.Builder b = new PieceMap.Builder();
      int pieces = 0;
      for (int step = 0; step < 20; step++) {
        int op = rnd.nextInt(10);
        if (op == 0) { // resize
          int newSize = 1 + rnd.nextInt(5000);
          int[] next = new int[newSize];
          System.arraycopy(oracle, 0, next, 0, Math.min(size, newSize));
          oracle = next;
          size = newSize;
          b.resize(size);
          continue;
        }
        int start = rnd.nextInt(size);
        int end = start + 1 + rnd.nextInt(Math.min(size - start, 800));
        if (op == 1) {
          b.clear(start, end);
          Arrays.fill(oracle, start, end, 0);
        } else {
          int piece = pieces++;
          int offset = rnd.nextInt(100);
          b.lay(start, end, piece, offset);
          for (int i = start; i < end; i++) {
            oracle[i] = piece * 10000 + offset + (i - start) + 1;
          }
        }
      }
      PieceMap map = b.build(size);
      int[] seen = new int[size];
      for (int r = 0; r < map.rangeCount(); r++) {
        assertThat(map.start(r)).isLessThan(map.end(r));
        if (r > 0) {
          assertThat(map.start(r)).isGreaterThanOrEqualTo(map.end(r - 1));
        }
        for (long i = map.start(r); i < map.end(r); i++) {
          seen[(int) i] =
              map.piece(r) * 10000 + map.offsetInPiece(r) + (int) (i - map.start(r)) + 1;
        }
      }
      assertThat(seen).as("seed %d", seed).isEqualTo(oracle);
    }
  }
}
