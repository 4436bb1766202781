package io.cbtfs.fs.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OverlayFileTest {
  private static final int BLOCK = 4096;
  private static final int SIZE = 64 * BLOCK - 1000; // the last block is short
  private static final String BASE = "lineage 1234 generation 3";

  @TempDir Path tmp;

  private final byte[] original = generation();
  private final ArrayGeneration generation = new ArrayGeneration(original.clone());

  private static byte[] generation() {
    byte[] b = new byte[SIZE];
    new Random(1).nextBytes(b);
    Arrays.fill(b, 8 * BLOCK, 16 * BLOCK, (byte) 0); // a hole
    return b;
  }

  private OverlayFile open() throws IOException {
    return OverlayFile.over(generation, tmp, "vm@3", BLOCK, BASE);
  }

  private static byte[] read(OverlayFile f, long offset, int length) throws IOException {
    byte[] b = new byte[length];
    f.read(offset, b, length);
    return b;
  }

  @Test
  void readsTheGenerationAndMakesNoFileUntilTheFirstWrite() throws IOException {
    try (OverlayFile f = open()) {
      assertThat(read(f, 0, SIZE)).isEqualTo(original);
      assertThat(f.next(0, true)).isEqualTo(8 * BLOCK);
      assertThat(tmp.resolve("vm@3.img")).doesNotExist();
      assertThat(tmp.resolve("vm@3.present")).doesNotExist();
    }
  }

  /** A write inside one block: the rest of the block still reads as the generation. */
  @Test
  void aPartialWriteKeepsTheRestOfItsBlocksFromTheGeneration() throws IOException {
    byte[] expected = original.clone();
    try (OverlayFile f = open()) {
      byte[] data = new byte[100];
      Arrays.fill(data, (byte) 7);
      f.write(BLOCK + 500, data, 100); // inside block 1
      System.arraycopy(data, 0, expected, BLOCK + 500, 100);
      byte[] across = new byte[2 * BLOCK];
      Arrays.fill(across, (byte) 9);
      f.write(3 * BLOCK + 10, across, across.length); // block 3's tail, all of 4, block 5's head
      System.arraycopy(across, 0, expected, 3 * BLOCK + 10, across.length);
      assertThat(read(f, 0, SIZE)).isEqualTo(expected);
      assertThat(f.presentBlocks()).isEqualTo(4);
      assertThat(f.writtenBlocks()).isEqualTo(4);
    }
    // the overlay file alone holds the written blocks whole, and only its owner reads it
    assertThat(
            PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("vm@3.img"))))
        .isEqualTo("rw-------");
    byte[] overlay = Files.readAllBytes(tmp.resolve("vm@3.img"));
    assertThat(overlay).hasSize(SIZE);
    assertThat(Arrays.copyOfRange(overlay, BLOCK, 2 * BLOCK))
        .isEqualTo(Arrays.copyOfRange(expected, BLOCK, 2 * BLOCK));
    assertThat(Arrays.copyOfRange(overlay, 3 * BLOCK, 6 * BLOCK))
        .isEqualTo(Arrays.copyOfRange(expected, 3 * BLOCK, 6 * BLOCK));
    assertThat(generation.bytes).isEqualTo(original);
  }

  /**
   * Seeded writes and reads against an array; every few writes a second overlay is opened on the
   * same files without closing the first (a mount after a kill -9 sees what was acknowledged).
   */
  @Test
  void randomWritesReadAsAnArrayDoesAndSurviveAReopenWithoutClose() throws IOException {
    byte[] expected = original.clone();
    Random rnd = new Random(5);
    OverlayFile f = open();
    for (int i = 0; i < 300; i++) {
      int length = 1 + rnd.nextInt(3 * BLOCK);
      int offset = rnd.nextInt(SIZE - length + 1);
      byte[] data = new byte[length];
      rnd.nextBytes(data);
      if (rnd.nextInt(4) == 0) {
        Arrays.fill(data, (byte) 0);
      }
      f.write(offset, data, length);
      System.arraycopy(data, 0, expected, offset, length);
      int readLength = 1 + rnd.nextInt(5 * BLOCK);
      int readOffset = rnd.nextInt(SIZE - readLength + 1);
      assertThat(read(f, readOffset, readLength))
          .isEqualTo(Arrays.copyOfRange(expected, readOffset, readOffset + readLength));
      if (i % 50 == 49) {
        OverlayFile again = open(); // f is neither forced nor closed: a kill -9
        assertThat(read(again, 0, SIZE)).as("after write %d", i).isEqualTo(expected);
        f = again;
      }
    }
    f.close();
    try (OverlayFile reopened = open()) {
      assertThat(read(reopened, 0, SIZE)).isEqualTo(expected);
    }
    assertThat(generation.bytes).isEqualTo(original);
  }

  /**
   * Hydration while a writer writes: every block ends up in the overlay file, the written ones with
   * what was written last (hydration never copies the generation over a block held), and the
   * written map has exactly the blocks written.
   */
  @Test
  void hydrationDuringWritesMakesTheOverlayFileTheWholeImage() throws Exception {
    byte[] expected = original.clone();
    java.util.BitSet written = new java.util.BitSet();
    Random rnd = new Random(11);
    try (OverlayFile f = open()) {
      for (int i = 0; i < 10; i++) { // some blocks held before hydration starts
        int offset = rnd.nextInt(SIZE - 100);
        byte[] data = new byte[1 + rnd.nextInt(100)];
        rnd.nextBytes(data);
        f.write(offset, data, data.length);
        System.arraycopy(data, 0, expected, offset, data.length);
        written.set(offset / BLOCK, (offset + data.length - 1) / BLOCK + 1);
      }
      Thread hydration =
          new Thread(
              () -> {
                try {
                  for (long b = 0; b < f.blockCount(); b += 3) {
                    f.hydrate(b, 3);
                  }
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      hydration.start();
      for (int i = 0; i < 200; i++) {
        int length = 1 + rnd.nextInt(2 * BLOCK);
        int offset = rnd.nextInt(SIZE - length + 1);
        byte[] data = new byte[length];
        rnd.nextBytes(data);
        f.write(offset, data, length);
        System.arraycopy(data, 0, expected, offset, length);
        written.set(offset / BLOCK, (offset + length - 1) / BLOCK + 1);
      }
      hydration.join();
      for (long b = 0; b < f.blockCount(); b++) { // what the racing hydration may have left
        f.hydrate(b, 1);
      }
      assertThat(f.presentBlocks()).isEqualTo(f.blockCount());
      assertThat(f.writtenBlocks()).isEqualTo(written.cardinality());
      assertThat(f.hydrate(0, 64)).isZero();
    }
    assertThat(Files.readAllBytes(tmp.resolve("vm@3.img"))).isEqualTo(expected);
    try (OverlayFile reopened = open()) {
      assertThat(reopened.writtenBlocks()).isEqualTo(written.cardinality());
      generation.damaged = true; // the whole image is in the overlay: no read reaches the store
      assertThat(read(reopened, 0, SIZE)).isEqualTo(expected);
    }
  }

  /**
   * Writers that share blocks, each owning its own 512-byte slots: first writes to one block race
   * (each copies the rest of the block from the generation) and none loses another's bytes, before
   * and after a reopen (mutant: no block lock around a first write's copy, which then lays the
   * generation's bytes over a slot another writer just wrote).
   */
  @Test
  void concurrentFirstWritesToSharedBlocksLoseNothing() throws Exception {
    int writers = 4;
    int slot = 512;
    int slots = (SIZE / slot) / writers * writers;
    for (int round = 0; round < 5; round++) {
      byte[] expected = original.clone();
      try (OverlayFile f = OverlayFile.over(generation, tmp, "vm@3-" + round, BLOCK, BASE)) {
        java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(writers);
        java.util.List<Thread> threads = new java.util.ArrayList<>();
        java.util.Queue<Throwable> failures = new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int w = 0; w < writers; w++) {
          int writer = w;
          byte[] data = new byte[slot];
          Arrays.fill(data, (byte) (round * writers + writer + 1));
          for (int s = writer; s < slots; s += writers) {
            System.arraycopy(data, 0, expected, s * slot, slot);
          }
          Thread t =
              new Thread(
                  () -> {
                    try {
                      start.await();
                      for (int s = writer; s < slots; s += writers) {
                        f.write((long) s * slot, data, slot);
                      }
                    } catch (Exception e) {
                      failures.add(e);
                    }
                  });
          t.start();
          threads.add(t);
        }
        for (Thread t : threads) {
          t.join();
        }
        assertThat(failures).isEmpty();
        assertThat(read(f, 0, SIZE)).as("round %d", round).isEqualTo(expected);
      }
      try (OverlayFile reopened = OverlayFile.over(generation, tmp, "vm@3-" + round, BLOCK, BASE)) {
        assertThat(read(reopened, 0, SIZE)).as("round %d, reopened", round).isEqualTo(expected);
      }
    }
  }

  /** Data and holes: a held block is data; a hole of the generation not written is still one. */
  @Test
  void seekFindsWrittenBlocksAsDataAndUnwrittenHolesAsHoles() throws IOException {
    try (OverlayFile f = open()) {
      f.write(10 * BLOCK + 5, new byte[] {1}, 1);
      assertThat(f.next(0, true)).isEqualTo(8 * BLOCK);
      assertThat(f.next(8 * BLOCK, false)).isEqualTo(10 * BLOCK);
      assertThat(f.next(10 * BLOCK, true)).isEqualTo(11 * BLOCK);
      assertThat(f.next(11 * BLOCK, false)).isEqualTo(16 * BLOCK);
      f.write(8 * BLOCK, new byte[BLOCK], BLOCK); // zeros, but written: data
      assertThat(f.next(0, true)).isEqualTo(9 * BLOCK);
      assertThat(f.next(SIZE - 1, true)).isEqualTo(SIZE);
    }
  }

  @Test
  void writesPastTheEndAreRefusedAndAnotherGenerationsOverlayToo() throws IOException {
    try (OverlayFile f = open()) {
      assertThatThrownBy(() -> f.write(SIZE - 1, new byte[2], 2))
          .isInstanceOfSatisfying(
              ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(Posix.EFBIG));
      f.write(0, new byte[1], 1);
    }
    assertThatThrownBy(
            () -> OverlayFile.over(generation, tmp, "vm@3", BLOCK, "lineage 1234 generation 4"))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("not of lineage 1234 generation 4");
    Files.delete(tmp.resolve("vm@3.img"));
    assertThatThrownBy(this::open)
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("that file is missing");
  }

  /** A first write that cannot read its block's rest from the generation marks nothing. */
  @Test
  void aFailedCopyFromTheGenerationLeavesTheBlockUnwritten() throws IOException {
    try (OverlayFile f = open()) {
      generation.damaged = true;
      assertThatThrownBy(() -> f.write(BLOCK + 1, new byte[] {5}, 1))
          .isInstanceOf(IOException.class);
      generation.damaged = false;
      assertThat(f.presentBlocks()).isZero();
      assertThat(read(f, BLOCK, BLOCK)).isEqualTo(Arrays.copyOfRange(original, BLOCK, 2 * BLOCK));
    }
  }

  /**
   * A clean close seals both maps with the overlay file's fingerprint then: what adopt compares
   * with the file to know nothing wrote it since.
   */
  @Test
  void aCleanCloseSealsBothMapsWithTheOverlayFilesFingerprint() throws IOException {
    try (OverlayFile f = open()) {
      f.write(5 * BLOCK, new byte[100], 100);
    }
    Fingerprint now = ImageFiles.fingerprintOf(tmp.resolve("vm@3.img"));
    assertThat(now.isKnown()).isTrue();
    for (String map : new String[] {"vm@3.written", "vm@3.present"}) {
      SavedBlocks.Contents c = SavedBlocks.read(tmp.resolve(map));
      assertThat(c.seal()).as(map).isEqualTo(SavedBlocks.Seal.INTACT);
      assertThat(c.imageAtClose()).as(map).isEqualTo(now);
    }
  }

  /**
   * A mount that opens maps it cannot vouch for leaves a lasting mark, which a later clean close
   * does not remove: a write to the file outside the mount after a clean close, or a mount killed
   * before closing, is not hidden by the next clean unmount's seal (mutant: no check at open, and
   * the reopened, cleanly closed overlay looks as trusted as one never touched).
   */
  @Test
  void anOverlayOpenedUnsealedOrChangedStaysDistrustedAfterACleanClose() throws Exception {
    Path marker = tmp.resolve("vm@3.distrusted");
    try (OverlayFile f = open()) {
      f.write(5 * BLOCK, new byte[100], 100);
    }
    try (OverlayFile again = open()) { // sealed and unchanged: trusted
      assertThat(again.presentBlocks()).isEqualTo(1);
    }
    assertThat(marker).doesNotExist();
    try (java.nio.channels.FileChannel ch =
        java.nio.channels.FileChannel.open(
            tmp.resolve("vm@3.img"), java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 9 * BLOCK); // beside the mount
    }
    open().close(); // the next mount, closed cleanly: the maps are sealed anew
    assertThat(marker).exists();
    assertThat(Files.readString(marker)).contains("changed outside the mount");
    open().close();
    assertThat(marker).as("once distrusted, always").exists();

    Files.delete(marker); // a mount killed with the maps open (no close): not sealed
    OverlayFile killed = open();
    killed.write(7 * BLOCK, new byte[10], 10);
    open().close();
    assertThat(Files.readString(marker)).contains("was not closed by a clean unmount");
  }
}
