package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

/**
 * Fuzzes the readers of the tracker's files (docs/STATE.md) with random bytes and with seeded
 * mutations of valid files, the mutated ones half the time with their CRC made right again, so that
 * the checks behind the CRC are reached too. A reader returns a value that encodes back to itself,
 * or refuses with its documented exception ({@link CorruptStateException}; the activity log's
 * reader: an empty result); anything else (NPE, IndexOutOfBounds, NegativeArraySize, an
 * OutOfMemoryError from a hostile length) fails ({@link Fuzz}, which keeps the input). A few
 * seconds here; {@code -Dcbtfs.fuzz.factor=N} runs N times longer (bench/fuzz.sh).
 */
class OnDiskFuzzTest {
  private static final UUID LINEAGE = new UUID(0x0123456789abcdefL, 0x7edcba9876543210L);

  // ---- the state file (NAME.cbt) ----

  @Test
  void aStateFileDecodesToWhatItEncodesOrIsRefused() {
    Fuzz.Report r =
        Fuzz.run("state file", 8000, OnDiskFuzzTest::stateFile, OnDiskFuzzTest::readState);
    assertThat(r.accepted()).as("mutated files that still decode").isPositive();
    assertThat(r.refused()).isPositive();
  }

  /** Hostile inputs kept from the runs that prove the fuzzer catches a reader without a check. */
  @Test
  void keptHostileInputsAreRefused() throws Exception {
    Fuzz.Report state = Fuzz.replay(getClass(), "state-file", OnDiskFuzzTest::readState);
    Fuzz.Report log = Fuzz.replay(getClass(), "activity-log", OnDiskFuzzTest::readLog);
    assertThat(state.tries()).isPositive().isEqualTo(state.refused());
    assertThat(log.tries()).isPositive().isEqualTo(log.refused());
  }

  /** Decodes a state file; a decoded one encodes back to itself. */
  static boolean readState(byte[] file) {
    TrackerState state;
    try {
      state = TrackerState.decode(file, "fuzz.cbt");
    } catch (CorruptStateException e) {
      return false;
    }
    assertThat(TrackerState.decode(state.encode(), "again")).isEqualTo(state);
    return true;
  }

  /** Random bytes, a valid file, or a mutated one (with its CRC right again, half of those). */
  private static byte[] stateFile(Random r) {
    return switch (r.nextInt(4)) {
      case 0 -> Mutations.random(r, r.nextInt(400));
      case 1 -> validState(r).encode(name(r));
      case 2 -> Mutations.mutate(validState(r).encode(name(r)), r);
      default -> fixStateCrc(Mutations.mutate(validState(r).encode(name(r)), r));
    };
  }

  private static TrackerState validState(Random r) {
    BlockGeometry g = BlockGeometry.of(BlockGeometry.MIN_BLOCK_SIZE << r.nextInt(11));
    RoaringBitmap dirty = new RoaringBitmap();
    for (int k = r.nextInt(8); k > 0; k--) {
      long first = r.nextInt(1 << 20);
      dirty.add(first, first + 1 + r.nextInt(r.nextBoolean() ? 4 : 5000));
    }
    long committed = r.nextInt(1000);
    long issued = committed + r.nextInt(4);
    java.util.TreeMap<Long, DirtySet> sets = new java.util.TreeMap<>();
    for (long gen = committed + 1; gen <= issued; gen++) {
      if (r.nextBoolean()) {
        sets.put(gen, DirtySet.of(g, RoaringBitmap.bitmapOf(r.nextInt(1 << 20))));
      }
    }
    java.util.List<Cursor> cursors = new java.util.ArrayList<>();
    for (int k = r.nextInt(3); k > 0; k--) {
      cursors.add(
          new Cursor(
              "file:/t" + k + "\u00e9\n",
              committed + r.nextInt((int) (issued - committed) + 1),
              java.time.Instant.ofEpochMilli(r.nextLong() >>> 20)));
    }
    return new TrackerState(
        new UUID(r.nextLong(), r.nextLong()),
        g,
        r.nextLong() & Long.MAX_VALUE,
        r.nextBoolean(),
        new Fingerprint(r.nextLong(), r.nextLong(), r.nextLong(), r.nextLong()),
        new DirtySet(g, dirty),
        new ChangeHistory.Saved(
            issued, committed, r.nextBoolean() ? 0 : issued + 1, sets, cursors));
  }

  /** No name (a plain state file) or a long one (a file named by its hash holds it). */
  private static String name(Random r) {
    return r.nextBoolean() ? null : "n".repeat(1 + r.nextInt(255));
  }

  /** The last 4 bytes: CRC32C of all before them, as if the mutation were written whole. */
  private static byte[] fixStateCrc(byte[] file) {
    if (file.length < 4) {
      return file;
    }
    CRC32C crc = new CRC32C();
    crc.update(file, 0, file.length - 4);
    ByteBuffer.wrap(file).putInt(file.length - 4, (int) crc.getValue());
    return file;
  }

  // ---- the activity log (NAME.alog) ----

  @Test
  void anActivityLogReadsAsASlotThatEncodesBackOrAsNothing() {
    Fuzz.Report r =
        Fuzz.run("activity log", 8000, OnDiskFuzzTest::logFile, OnDiskFuzzTest::readLog);
    assertThat(r.accepted()).isPositive();
    assertThat(r.refused()).isPositive();
  }

  /** Reads a log file; the slot it found encodes back to itself, and recovery can use it. */
  static boolean readLog(byte[] file) {
    Optional<ActivityLog.Contents> read = ActivityLog.read(file, LINEAGE);
    if (read.isEmpty()) {
      return false;
    }
    ActivityLog.Contents c = read.get();
    byte[] slot = ActivityLog.encodeSlot(c.sequence(), c.extentShift(), LINEAGE, c.extents());
    byte[] alone = new byte[2 * slot.length];
    System.arraycopy(slot, 0, alone, 0, slot.length);
    ActivityLog.Contents back = ActivityLog.read(alone, LINEAGE).orElseThrow();
    assertThat(back.sequence()).isEqualTo(c.sequence());
    assertThat(back.extentShift()).isEqualTo(c.extentShift());
    assertThat(back.extents()).isEqualTo(c.extents());
    assertThat(back.damagedSlot()).isFalse();
    // what recovery does with it: every block of every hot extent, whatever the extents say
    for (int shift = 12; shift <= 22; shift += 5) {
      c.blocks(BlockGeometry.of(1 << shift));
    }
    return true;
  }

  private static byte[] logFile(Random r) {
    return switch (r.nextInt(4)) {
      case 0 -> Mutations.random(r, r.nextInt(600));
      case 1 -> validLog(r);
      case 2 -> Mutations.mutate(validLog(r), r);
      default -> fixSlotCrcs(Mutations.mutate(validLog(r), r));
    };
  }

  /** Two slots of a log with room for 16 + 64 extents, as {@link ActivityLog} lays them out. */
  private static byte[] validLog(Random r) {
    int slotBytes = ActivityLog.slotBytes(16);
    byte[] file = new byte[2 * slotBytes];
    long seq = r.nextInt(1000);
    for (int k = 0; k < 2; k++) {
      long[] hot = new long[r.nextInt(r.nextBoolean() ? 4 : 80)];
      for (int i = 0; i < hot.length; i++) {
        hot[i] = r.nextInt(4) == 0 ? r.nextLong() : r.nextInt(1 << 16);
      }
      int shift = r.nextInt(10) == 0 ? r.nextInt(64) : 12 + r.nextInt(29);
      UUID lineage = r.nextInt(10) == 0 ? new UUID(r.nextLong(), r.nextLong()) : LINEAGE;
      byte[] slot = ActivityLog.encodeSlot(seq + k, shift, lineage, hot);
      System.arraycopy(slot, 0, file, (int) ((seq + k) & 1) * slotBytes, slot.length);
    }
    return file;
  }

  /**
   * Each half's CRC made right for the count its header now claims (where that fits), as if the
   * mutated slot had been written whole.
   */
  private static byte[] fixSlotCrcs(byte[] file) {
    int half = file.length / 2;
    for (int from : new int[] {0, half}) {
      int end = from == 0 ? half : file.length;
      if (end - from < ActivityLog.SLOT_HEADER_BYTES + 4) {
        continue;
      }
      int count = ByteBuffer.wrap(file).getInt(from + ActivityLog.SLOT_HEADER_BYTES - 4);
      long crcAt = from + ActivityLog.SLOT_HEADER_BYTES + 8L * count;
      if (count < 0 || crcAt + 4 > end) {
        continue;
      }
      CRC32C crc = new CRC32C();
      crc.update(file, from, (int) crcAt - from);
      ByteBuffer.wrap(file).putInt((int) crcAt, (int) crc.getValue());
    }
    return file;
  }
}
