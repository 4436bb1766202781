package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.BlockGeometry;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fleece's copy-before-write, which a guest's write waits for. */
class FleeceTest {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);

  @TempDir Path dir;

  /**
   * A copy runs on the FUSE write path: a pread and a pwrite through a buffer the writer keeps, not
   * a new block-sized one per copy (nor the JDK's copy between a heap buffer and its own).
   */
  @Test
  void aCopyAllocatesNoBlockBuffer() throws IOException {
    int blocks = 64;
    byte[] bytes = new byte[blocks * G.blockSize()];
    new Random(3).nextBytes(bytes);
    Path image = Files.write(dir.resolve("vm.img"), bytes);
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    try (Fleece fleece =
        Fleece.open(
            image,
            "vm.img",
            G,
            new PointInTime(FleeceStore.scratchIn(dir), new FleeceLimit(-1, 100)))) {
      fleece.imageBytesAtDrain();
      fleece.protecting(blocks);
      fleece.save(0); // the first copy loads classes and makes the thread's buffer: not measured
      long before = threads.getCurrentThreadAllocatedBytes();
      for (int b = 1; b < blocks; b++) {
        fleece.save(b);
      }
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      assertThat(allocated).as("63 copies of 64 KiB blocks").isLessThan(G.blockSize());
    }
  }

  /**
   * A fleece shares its disk with the tracking state, whose saves a guest's write may wait for: it
   * takes no more than its disk can spare, and says so when that is what stops it.
   */
  @Test
  void aFleeceTakesNoMoreThanItsDiskCanSpare() throws IOException {
    Path image = Files.write(dir.resolve("vm.img"), new byte[8 * G.blockSize()]);
    FleeceStore.Opener twoBlocksOfRoom =
        name -> {
          FleeceStore disk = FleeceStore.scratchIn(dir).open(name);
          return new FleeceStore() {
            @Override
            public void write(ByteBuffer from, long byteOffset) throws IOException {
              disk.write(from, byteOffset);
            }

            @Override
            public void read(ByteBuffer into, long byteOffset) throws IOException {
              disk.read(into, byteOffset);
            }

            @Override
            public long room() {
              return 2L * G.blockSize();
            }

            @Override
            public String where() {
              return "/state";
            }

            @Override
            public void close() throws IOException {
              disk.close();
            }
          };
        };
    try (Fleece fleece =
        Fleece.open(
            image, "vm.img", G, new PointInTime(twoBlocksOfRoom, new FleeceLimit(-1, 100)))) {
      fleece.protecting(8);
      fleece.save(0);
      fleece.save(1);
      assertThatThrownBy(() -> fleece.save(2))
          .isInstanceOf(IOException.class)
          .hasMessage(
              "the fleece is full: 128K of old blocks, all that /state can spare (it keeps 16M"
                  + " free for the tracking state)");
    }
  }
}
