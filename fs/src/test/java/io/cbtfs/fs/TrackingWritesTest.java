package io.cbtfs.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.ForwardingStateIo;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.LongStream;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The write path against real backing files and a real tracker: which blocks each change marks
 * (README, "Supported operations"), and that the intent is durable before the file changes.
 */
class TrackingWritesTest {
  private static final int BLOCK = 4096;
  private static final int O_RDWR = 2;
  private static final int FALLOC_FL_KEEP_SIZE = 0x01;
  private static final int FALLOC_FL_PUNCH_HOLE = 0x02;
  private static final byte OLD = 0x11;
  private static final byte NEW = 0x22;

  @TempDir Path dir;
  private final Posix posix = Posix.get();
  private final FailingLogIo io = new FailingLogIo();
  private final List<Integer> fds = new ArrayList<>();
  private TrackerStore store;
  private ImageFiles files;
  private TrackingWrites writes;

  /** The real state I/O, except that writes to activity logs fail once {@code failing} is set. */
  private static final class FailingLogIo extends ForwardingStateIo {
    volatile boolean failing;

    @Override
    public void writeAt(Path file, long position, byte[] bytes) throws IOException {
      if (failing && file.getFileName().toString().endsWith(".alog")) {
        throw new IOException("injected: activity log write of " + file);
      }
      super.writeAt(file, position, bytes);
    }
  }

  @BeforeEach
  void openStore() throws IOException {
    Path state = dir.resolve(".cbtfs");
    // One block per extent, 64 hot: a change of more than 16 blocks takes the bulk path.
    store =
        TrackerStore.open(
            state, new TrackingOptions(BlockGeometry.of(BLOCK), BLOCK, 64, false), io);
    files = new ImageFiles(dir, state);
    writes = new TrackingWrites(posix);
  }

  @AfterEach
  void close() throws IOException {
    for (int fd : fds) {
      posix.close(fd);
    }
    store.close();
  }

  /** A backing file of {@code blocks} blocks of {@link #OLD}, open, with its tracking loaded. */
  private OpenImage image(String name, int blocks) throws IOException {
    byte[] content = new byte[blocks * BLOCK];
    Arrays.fill(content, OLD);
    Files.write(files.backingFile(name), content);
    int fd = posix.open(files.backingFile(name).toString(), O_RDWR | Posix.O_NOFOLLOW, 0);
    fds.add(fd);
    return new OpenImage(name, fd, store.image(name, files.fingerprint(name)));
  }

  private static List<Long> dirty(OpenImage file) {
    List<Long> blocks = new ArrayList<>();
    file.image().dirtyBlocks().forEachBlock(b -> blocks.add((long) b));
    return blocks;
  }

  private static List<Long> blocks(long first, long last) {
    return LongStream.rangeClosed(first, last).boxed().toList();
  }

  private byte[] content(OpenImage file) throws IOException {
    return Files.readAllBytes(files.backingFile(file.imageName()));
  }

  private int write(OpenImage file, long byteOffset, int byteLength) throws IOException {
    Pointer buf = Memory.allocateDirect(posix.runtime(), byteLength);
    byte[] bytes = new byte[byteLength];
    Arrays.fill(bytes, NEW);
    buf.put(0, bytes, 0, byteLength);
    return writes.write(file, buf, byteLength, byteOffset);
  }

  @Test
  void aWriteMarksExactlyTheBlocksItTouches() throws IOException {
    OpenImage file = image("a.img", 8);
    assertThat(write(file, 3L * BLOCK - 100, 5000)).isEqualTo(5000);
    assertThat(dirty(file)).containsExactly(2L, 3L, 4L);
    byte[] content = content(file);
    assertThat(content[3 * BLOCK - 101]).isEqualTo(OLD);
    assertThat(Arrays.copyOfRange(content, 3 * BLOCK - 100, 3 * BLOCK + 4900)).containsOnly(NEW);
    assertThat(content[3 * BLOCK + 4900]).isEqualTo(OLD);

    write(file, 7L * BLOCK + BLOCK - 1, 1);
    assertThat(dirty(file)).containsExactly(2L, 3L, 4L, 7L);
  }

  @Test
  void eachWriteIsCountedForTheImagesMetrics() throws IOException {
    OpenImage file = image("a.img", 8);
    write(file, 0, 5000);
    write(file, 3L * BLOCK, 100);
    writes.truncate(file.fd(), file.imageName(), file.image(), 2L * BLOCK);
    assertThat(file.image().writeRequests()).as("write requests, not truncates").isEqualTo(2);
    assertThat(file.image().writtenBytes()).isEqualTo(5100);
  }

  @Test
  void anInjectedTrackingIsWhatEveryChangeCalls() throws IOException {
    List<String> calls = new ArrayList<>();
    writes =
        new TrackingWrites(
            posix,
            new WriteTracking() {
              @Override
              public void beforeWrite(TrackedImage image, long byteOffset, long byteLength) {
                calls.add("before " + byteOffset + "+" + byteLength);
              }

              @Override
              public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {
                calls.add("after " + byteOffset + "+" + byteLength);
              }
            });
    OpenImage file = image("a.img", 8);
    write(file, 3L * BLOCK, 100);
    writes.truncate(file.fd(), file.imageName(), file.image(), 4L * BLOCK);
    writes.fallocate(file, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, BLOCK);
    assertThat(calls)
        .containsExactly(
            "before " + 3 * BLOCK + "+100",
            "after " + 3 * BLOCK + "+100",
            "before " + 4 * BLOCK + "+" + 4 * BLOCK,
            "after " + 4 * BLOCK + "+" + 4 * BLOCK,
            "before 0+" + BLOCK,
            "after 0+" + BLOCK);
    assertThat(dirty(file)).as("the image's own tracking was not called").isEmpty();
  }

  @Test
  void aWritePastTheEndMarksItsBlocksAndTheKnownSize() throws IOException {
    OpenImage file = image("a.img", 2);
    write(file, 5L * BLOCK + 10, 10);
    assertThat(dirty(file)).containsExactly(5L);
    assertThat(file.image().knownSize()).isEqualTo(5L * BLOCK + 20);
  }

  @Test
  void aWriteWhoseIntentFailsLeavesTheFileUntouched() throws IOException {
    OpenImage file = image("a.img", 8);
    byte[] before = content(file);
    io.failing = true;
    assertThatThrownBy(() -> write(file, 5L * BLOCK, 100)).hasMessageContaining("injected");
    assertThat(content(file)).isEqualTo(before);
    io.failing = false;
    write(file, 5L * BLOCK, 100); // the tracking is still usable after the failure
    assertThat(dirty(file)).containsExactly(5L);
  }

  @Test
  void shrinkingMarksEveryBlockFromTheNewEndToTheOld() throws IOException {
    OpenImage file = image("a.img", 10);
    long newSize = 4L * BLOCK + 100;
    writes.truncate(file.fd(), file.imageName(), file.image(), newSize);
    assertThat(dirty(file)).isEqualTo(blocks(4, 9));
    assertThat(Files.size(files.backingFile("a.img"))).isEqualTo(newSize);
    assertThat(file.image().knownSize()).isEqualTo(newSize);
  }

  @Test
  void growingMarksEveryBlockFromTheOldEndToTheNew() throws IOException {
    OpenImage file = image("a.img", 2);
    writes.truncate(file.fd(), file.imageName(), file.image(), 5L * BLOCK + 1);
    assertThat(dirty(file)).isEqualTo(blocks(2, 5));
    OpenImage empty = image("b.img", 0); // 40 blocks: the bulk path, past the activity log
    writes.truncate(empty.fd(), empty.imageName(), empty.image(), 40L * BLOCK);
    assertThat(dirty(empty)).isEqualTo(blocks(0, 39));
    assertThat(empty.image().knownSize()).isEqualTo(40L * BLOCK);
  }

  @Test
  void openingWithOTruncMarksTheWholeOldFile() throws IOException {
    image("t.img", 3);
    ImageFileSystem fs = new ImageFileSystem(files, store, posix);
    long fh = fs.open("/t.img", O_RDWR | Posix.O_TRUNC);
    try {
      assertThat(Files.size(files.backingFile("t.img"))).isZero();
      List<Long> blocks = new ArrayList<>();
      store
          .loaded("t.img")
          .orElseThrow()
          .tracker()
          .snapshot()
          .forEachBlock(b -> blocks.add((long) b));
      assertThat(blocks).isEqualTo(blocks(0, 2));
    } finally {
      fs.release(fh);
    }
  }

  @Test
  void punchingAHoleMarksTheRange() throws IOException {
    OpenImage file = image("a.img", 8);
    writes.fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BLOCK, 2L * BLOCK);
    assertThat(dirty(file)).containsExactly(1L, 2L);
    byte[] content = content(file);
    assertThat(content).hasSize(8 * BLOCK);
    assertThat(Arrays.copyOfRange(content, BLOCK, 3 * BLOCK)).containsOnly((byte) 0);
  }

  @Test
  void allocatingPastTheEndMarksTheRange() throws IOException {
    OpenImage file = image("a.img", 2);
    writes.fallocate(file, 0, 4L * BLOCK, 2L * BLOCK);
    assertThat(dirty(file)).containsExactly(4L, 5L);
    assertThat(Files.size(files.backingFile("a.img"))).isEqualTo(6L * BLOCK);
  }

  @Test
  void collapsingMarksFromTheOffsetToTheEnd() throws IOException {
    OpenImage file = image("a.img", 8);
    writes.fallocate(file, Posix.FALLOC_FL_COLLAPSE_RANGE, 2L * BLOCK, BLOCK);
    assertThat(Files.size(files.backingFile("a.img"))).isEqualTo(7L * BLOCK);
    assertThat(dirty(file)).containsAll(blocks(2, 6)).doesNotContain(0L, 1L);
  }

  @Test
  void insertingMarksFromTheOffsetToTheNewEnd() throws IOException {
    OpenImage file = image("a.img", 8);
    writes.fallocate(file, Posix.FALLOC_FL_INSERT_RANGE, 2L * BLOCK, BLOCK);
    assertThat(Files.size(files.backingFile("a.img"))).isEqualTo(9L * BLOCK);
    assertThat(dirty(file)).isEqualTo(blocks(2, 8));
  }
}
