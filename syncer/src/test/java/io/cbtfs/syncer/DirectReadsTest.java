package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Direct reads return exactly what reads through the page cache return, dirty pages included. */
class DirectReadsTest {
  @TempDir Path tmp;

  private static final int RUN = 256 << 10;

  /** A file of {@code size} random bytes, written and fsynced. */
  private Path image(long size) throws IOException {
    Path p = tmp.resolve("disk.img");
    byte[] b = new byte[(int) size];
    new Random(size).nextBytes(b);
    Files.write(p, b);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
    return p;
  }

  private static byte[] viaPageCache(FileChannel ch, long offset, int length) throws IOException {
    byte[] b = new byte[length];
    ImageReads.readFully(ch, offset, b, length);
    return b;
  }

  /** What {@code reads} puts in one of its own buffers. */
  private static byte[] direct(DirectReads reads, long offset, int length) throws IOException {
    return readInto(reads, reads.newBuffer(RUN), offset, length);
  }

  private static byte[] readInto(DirectReads reads, ByteBuffer into, long offset, int length)
      throws IOException {
    while (into.hasRemaining()) {
      into.put((byte) 0x5a); // stale bytes a short read must not leave behind
    }
    into.clear().limit(length);
    reads.readFully(offset, into);
    byte[] b = new byte[length];
    into.get(b);
    return b;
  }

  @Test
  void readsWhatThePageCacheReadsAtEveryKindOfOffsetAndAtTheOddEnd() throws IOException {
    long size = 3 * RUN + 12_345; // not a multiple of any block size
    Path p = image(size);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ);
        DirectReads reads = DirectReads.open(p, ch)) {
      assumeTrue(reads != null, "this file system refuses O_DIRECT");
      long[][] cases = {
        {0, RUN}, // aligned, full
        {RUN, 4096}, // aligned, short
        {2 * RUN, RUN}, // aligned, the last whole run
        {3 * RUN, RUN}, // aligned, runs past the end: the rest reads as zero
        {3 * RUN + 8192, 9000}, // aligned start, unaligned length over the end
        {100, 5000}, // unaligned start: through the page cache
        {size, 4096}, // wholly past the end
      };
      for (long[] c : cases) {
        assertThat(direct(reads, c[0], (int) c[1]))
            .as("offset %d length %d", c[0], c[1])
            .isEqualTo(viaPageCache(ch, c[0], (int) c[1]));
      }
    }
  }

  @Test
  void aBufferADirectReadCannotFillIsFilledThroughThePageCache() throws IOException {
    Path p = image(2 * RUN);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ);
        DirectReads reads = DirectReads.open(p, ch)) {
      assumeTrue(reads != null, "this file system refuses O_DIRECT");
      ByteBuffer unaligned = ByteBuffer.allocateDirect(RUN + 4096).position(1).slice();
      assertThat(readInto(reads, unaligned, RUN, RUN)).isEqualTo(viaPageCache(ch, RUN, RUN));
      assertThat(readInto(reads, ByteBuffer.allocate(RUN), 0, RUN))
          .isEqualTo(viaPageCache(ch, 0, RUN));
    }
  }

  @Test
  void seesWritesStillDirtyInThePageCache() throws IOException {
    Path p = image(2 * RUN);
    byte[] fresh = new byte[RUN];
    new Random(7).nextBytes(fresh);
    try (FileChannel w = FileChannel.open(p, StandardOpenOption.WRITE, StandardOpenOption.READ);
        DirectReads reads = DirectReads.open(p, w)) {
      assumeTrue(reads != null, "this file system refuses O_DIRECT");
      w.write(ByteBuffer.wrap(fresh), RUN); // not flushed: only in the page cache
      assertThat(direct(reads, RUN, RUN)).isEqualTo(fresh);
    }
  }

  @Test
  void aDirectReadThatFailsIsServedThroughThePageCache() throws IOException {
    Path p = image(2 * RUN);
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      DirectReads reads = DirectReads.open(p, ch);
      assumeTrue(reads != null, "this file system refuses O_DIRECT");
      reads.close(); // every direct read now fails
      assertThat(direct(reads, RUN, RUN)).isEqualTo(viaPageCache(ch, RUN, RUN));
      assertThat(direct(reads, 0, 4096)).isEqualTo(viaPageCache(ch, 0, 4096));
    }
  }

  @Test
  void aFullSyncThroughDirectReadsLeavesAnOddSizedReplicaIdentical() throws IOException {
    // the syncer reads a full sync directly: an image whose size is no multiple of the block
    Path src = Files.createDirectory(tmp.resolve("src"));
    try (SyncFixture fx = new SyncFixture(src, 4 << 20, 11)) {
      try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
        ch.truncate((4 << 20) - 777);
      }
      Path replicaFile = Files.createDirectory(tmp.resolve("dst")).resolve("r.img");
      SyncReport r =
          new Syncer(RUN, 2)
              .sync(
                  fx.source(),
                  new io.cbtfs.syncer.local.ReplicaTarget(replicaFile),
                  false,
                  SyncProgress.NONE);
      assertThat(r.full()).isTrue();
      assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
    }
  }
}
