package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtyTracker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The data path in both caching modes (FUSE direct I/O, the default, and the kernel page cache on
 * the mount): unaligned reads and writes, reads and writes across the end of the file, and the
 * dirty set exactly matching an oracle.
 */
class CachingModesIT {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final int SIZE = 3 * 1024 * 1024 + 123; // ends inside a block

  @TempDir Path tmp;
  MountedFolder folder;

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  @ParameterizedTest(name = "directIo={0}")
  @ValueSource(booleans = {true, false})
  void unalignedAndEndOfFileAccess(boolean directIo) throws IOException {
    folder = MountedFolder.prepare(tmp, G);
    byte[] oracle = new byte[SIZE];
    new Random(4).nextBytes(oracle);
    Files.write(folder.backingFile("x.img"), oracle);
    folder.mount(directIo);
    Random rnd = new Random(5);
    DirtyTracker expected = new DirtyTracker(G);
    int size = SIZE;
    try (FileChannel ch =
        FileChannel.open(
            folder.image("x.img"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 200; i++) {
        int off = rnd.nextInt(size + 5000); // some start past the end
        int len = 1 + rnd.nextInt(rnd.nextBoolean() ? 300 : 200_000);
        if (rnd.nextBoolean()) {
          byte[] data = new byte[len];
          rnd.nextBytes(data);
          ByteBuffer b = ByteBuffer.wrap(data);
          while (b.hasRemaining()) {
            ch.write(b, off + b.position());
          }
          if (off + len > oracle.length) {
            oracle = Arrays.copyOf(oracle, off + len); // the gap reads as zeros
          }
          System.arraycopy(data, 0, oracle, off, len);
          size = Math.max(size, off + len);
          expected.mark(off, len);
        } else {
          ByteBuffer b = ByteBuffer.allocate(len);
          int n = ch.read(b, off);
          int want = Math.max(0, Math.min(len, size - off));
          assertThat(n == -1 ? 0 : n).as("read %d at %d of %d", len, off, size).isEqualTo(want);
          assertThat(Arrays.equals(b.array(), 0, want, oracle, off, off + want)).isTrue();
        }
      }
    }
    assertThat(Files.size(folder.image("x.img"))).isEqualTo(size);
    assertThat(
            Arrays.equals(
                Files.readAllBytes(folder.backingFile("x.img")), Arrays.copyOf(oracle, size)))
        .isTrue();
    BitSet want = new BitSet();
    expected.snapshot().forEachBlock(want::set);
    BitSet got = new BitSet();
    folder.dirty("x.img").forEachBlock(got::set);
    assertThat(got).isEqualTo(want);
  }
}
