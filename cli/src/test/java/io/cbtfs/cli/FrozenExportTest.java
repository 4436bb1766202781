package io.cbtfs.cli;

import static io.cbtfs.syncer.SyncFixture.random;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.nbd.ExportIoException;
import io.cbtfs.nbd.ExportedImage;
import io.cbtfs.nbd.PointInTimeBitmap;
import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.FleeceStore;
import io.cbtfs.syncer.PointInTime;
import io.cbtfs.syncer.PullBackup;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The export of a pull backup over a sparse image: reads, holes and its bitmap are the drain's
 * while the image is written; read-only; once the backup ends every request fails ESHUTDOWN.
 */
class FrozenExportTest {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int BLOCK = G.blockSize();
  private static final long SIZE = 32L * BLOCK;

  @TempDir Path tmp;
  Path image;
  TrackerStore store;
  TrackedImage tracked;

  @BeforeEach
  void setUp() throws IOException {
    image = tmp.resolve("vm.img");
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      f.setLength(SIZE); // sparse: data only where written
    }
    store = TrackerStore.open(tmp.resolve(".cbtfs"), TrackingOptions.defaults(G));
    tracked = store.image("vm.img", Fingerprint.sizeOnly(SIZE));
    write(4L * BLOCK, random(2 * BLOCK, 1));
  }

  @AfterEach
  void tearDown() throws IOException {
    store.close();
  }

  /** Writes through the tracking, as the mount's write path does. */
  private void write(long offset, byte[] data) throws IOException {
    tracked.beforeWrite(offset, data.length);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(data), offset);
    } finally {
      tracked.afterWrite(offset, data.length);
    }
  }

  /** The live image as a session's read-only open: holes from SEEK_DATA emulated per block. */
  private ExportedImage live() throws IOException {
    FileChannel ch = FileChannel.open(image);
    return new ExportedImage() {
      @Override
      public long size() throws IOException {
        return ch.size();
      }

      @Override
      public int read(ByteBuffer dst, long byteOffset) throws IOException {
        return Math.max(0, ch.read(dst, byteOffset));
      }

      @Override
      public void write(ByteBuffer src, long byteOffset) {
        throw new AssertionError("no write reaches the image");
      }

      @Override
      public void flush() {
        throw new AssertionError();
      }

      @Override
      public void trim(long byteOffset, long byteLength) {
        throw new AssertionError();
      }

      private boolean isData(long block) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(BLOCK);
        ch.read(b, block * BLOCK);
        return !Arrays.equals(b.array(), new byte[BLOCK]);
      }

      @Override
      public long nextData(long byteOffset) throws IOException {
        for (long b = byteOffset / BLOCK; b * BLOCK < ch.size(); b++) {
          if (isData(b)) {
            return Math.max(byteOffset, b * BLOCK);
          }
        }
        return -1;
      }

      @Override
      public long nextHole(long byteOffset) throws IOException {
        long b = byteOffset / BLOCK;
        while (b * BLOCK < ch.size() && isData(b)) {
          b++;
        }
        return Math.max(byteOffset, Math.min(b * BLOCK, ch.size()));
      }

      @Override
      public TrackedImage tracking() {
        return tracked;
      }

      @Override
      public boolean writable() {
        return false;
      }

      @Override
      public Optional<PointInTimeBitmap> pointInTime() {
        return Optional.empty();
      }

      @Override
      public void close() throws IOException {
        ch.close();
      }
    };
  }

  private PullBackup begin() throws IOException {
    return PullBackup.begin(
        tracked,
        image,
        "nbd:nightly",
        new PointInTime(FleeceStore.scratchIn(tmp), FleeceLimit.DEFAULT));
  }

  private static byte[] read(ExportedImage export, long offset, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocateDirect(length);
    assertThat(export.read(b.duplicate(), offset)).isEqualTo(length);
    byte[] out = new byte[length];
    b.get(out);
    return out;
  }

  @Test
  void readsHolesAndBitmapAreTheDrainsWhileTheImageIsWritten() throws IOException {
    byte[] atDrain = Files.readAllBytes(image);
    try (PullBackup backup = begin();
        FrozenExport export = new FrozenExport(live(), backup, "nightly")) {
      write(5L * BLOCK - 10, random(100, 2)); // over data
      write(20L * BLOCK, random(BLOCK, 3)); // into a hole
      write(5L * BLOCK, new byte[BLOCK]); // a hole now (as a punch would make it)
      assertThat(Files.readAllBytes(image)).isNotEqualTo(atDrain);

      assertThat(read(export, 0, (int) SIZE)).isEqualTo(atDrain);
      assertThat(export.size()).isEqualTo(SIZE);
      assertThat(export.writable()).isFalse();
      assertThat(export.pointInTime().orElseThrow().name()).isEqualTo("nightly");
      assertThat(export.pointInTime().orElseThrow().dirty().blockCount()).isEqualTo(32);
      // holes: the drain's; a block written since is data (its old bytes were copied)
      assertThat(export.nextData(0)).isEqualTo(4L * BLOCK);
      assertThat(export.nextHole(4L * BLOCK)).isEqualTo(6L * BLOCK);
      assertThat(export.nextData(5L * BLOCK)).isEqualTo(5L * BLOCK);
      assertThat(export.nextData(6L * BLOCK)).isEqualTo(20L * BLOCK);
      assertThat(export.nextHole(20L * BLOCK)).isEqualTo(21L * BLOCK);
      assertThat(export.nextData(21L * BLOCK)).isEqualTo(-1);
      assertThatThrownBy(() -> export.write(ByteBuffer.allocateDirect(1), 0))
          .isInstanceOf(ExportIoException.class);

      backup.commit(); // the end: the export is withdrawn
      write(4L * BLOCK, random(BLOCK, 4)); // lands uncopied now
      for (ThrowingCall call :
          new ThrowingCall[] {
            () -> read(export, 4L * BLOCK, BLOCK),
            () -> export.nextData(0),
            () -> export.nextHole(0),
            export::pointInTime,
            export::size
          }) {
        assertThatThrownBy(call::run)
            .isInstanceOf(ExportIoException.class)
            .hasMessageContaining("withdrawn");
      }
    }
  }

  private interface ThrowingCall {
    Object run() throws IOException;
  }
}
