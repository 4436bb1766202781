package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivityLogTest {
  private static final UUID LINEAGE = UUID.randomUUID();
  @TempDir Path dir;

  private ActivityLog log(int maxHot, AtomicInteger persists) throws IOException {
    return ActivityLog.create(
        dir.resolve("a.alog"), LINEAGE, 65536, maxHot, 0, persists::incrementAndGet);
  }

  private ActivityLog.Contents onDisk() throws IOException {
    return ActivityLog.read(Files.readAllBytes(dir.resolve("a.alog")), LINEAGE).orElseThrow();
  }

  @Test
  void onlyTheFirstWriteIntoAnExtentCostsADurableWrite() throws IOException {
    try (ActivityLog log = log(16, new AtomicInteger())) {
      long before = log.durableWrites();
      for (int i = 0; i < 100; i++) {
        log.enter(i * 100L, 100);
        log.exit(i * 100L, 100);
      }
      assertThat(log.durableWrites() - before).isOne();
      assertThat(onDisk().extents()).containsExactly(0);
    }
  }

  @Test
  void aWriteAcrossAnExtentEdgeMakesBothHot() throws IOException {
    try (ActivityLog log = log(16, new AtomicInteger())) {
      log.enter(65536 - 10, 20);
      log.exit(65536 - 10, 20);
      assertThat(onDisk().extents()).containsExactlyInAnyOrder(0, 1);
    }
  }

  @Test
  void evictionPersistsFirstAndSkipsExtentsInFlight() throws IOException {
    AtomicInteger persists = new AtomicInteger();
    try (ActivityLog log = log(16, persists)) {
      log.enter(0, 1); // extent 0 stays in flight
      for (long e = 1; e < 40; e++) {
        log.enter(e * 65536, 1);
        log.exit(e * 65536, 1);
      }
      assertThat(persists.get()).isPositive();
      assertThat(log.hotCount()).isLessThanOrEqualTo(16);
      assertThat(onDisk().extents()).contains(0L, 39L);
      log.exit(0, 1);
    }
  }

  @Test
  void aTornSlotFallsBackToTheOtherOne() throws IOException {
    try (ActivityLog log = log(16, new AtomicInteger())) {
      log.enter(0, 1); // seq 3: extents {0}
      log.enter(65536, 1); // seq 4: extents {0, 1}
    }
    byte[] file = Files.readAllBytes(dir.resolve("a.alog"));
    long newest = ActivityLog.read(file, LINEAGE).orElseThrow().sequence();
    int newestSlot = (int) (newest & 1) * (file.length / 2);
    file[newestSlot + ActivityLog.SLOT_HEADER_BYTES] ^= 1; // tear the newest slot
    ActivityLog.Contents back = ActivityLog.read(file, LINEAGE).orElseThrow();
    assertThat(back.sequence()).isEqualTo(newest - 1);
    assertThat(back.extents()).containsExactly(0);
    assertThat(back.damagedSlot()).as("torn or rotten: the other slot cannot be trusted").isTrue();
    assertThat(ActivityLog.read(file, UUID.randomUUID())).as("another lineage").isEmpty();
    assertThat(ActivityLog.read(new byte[0], LINEAGE)).isEmpty();
  }

  @Test
  void aSlotNeverWrittenIsNotDamage() throws IOException {
    try (ActivityLog log = log(16, new AtomicInteger())) {
      log.enter(0, 1);
    }
    byte[] file = Files.readAllBytes(dir.resolve("a.alog"));
    assertThat(ActivityLog.read(file, LINEAGE).orElseThrow().damagedSlot()).isFalse();
    long newest = ActivityLog.read(file, LINEAGE).orElseThrow().sequence();
    int half = file.length / 2;
    int older = newest % 2 == 0 ? half : 0; // zero-filled, as a new log's file starts
    java.util.Arrays.fill(file, older, older + half, (byte) 0);
    ActivityLog.Contents only = ActivityLog.read(file, LINEAGE).orElseThrow();
    assertThat(only.sequence()).isEqualTo(newest);
    assertThat(only.damagedSlot()).isFalse();
    file[older + 5] = 1; // one stray byte where nothing was written: damage
    assertThat(ActivityLog.read(file, LINEAGE).orElseThrow().damagedSlot()).isTrue();
  }

  @Test
  void aSlotOfAnotherLineageIsDamage() throws IOException {
    try (ActivityLog log = log(16, new AtomicInteger())) {
      log.enter(0, 1);
    }
    byte[] file = Files.readAllBytes(dir.resolve("a.alog"));
    long newest = ActivityLog.read(file, LINEAGE).orElseThrow().sequence();
    int half = file.length / 2;
    int older = newest % 2 == 0 ? half : 0;
    byte[] foreign = ActivityLog.encodeSlot(newest + 1, 16, UUID.randomUUID(), new long[] {7});
    System.arraycopy(foreign, 0, file, older, foreign.length);
    ActivityLog.Contents back = ActivityLog.read(file, LINEAGE).orElseThrow();
    assertThat(back.sequence()).isEqualTo(newest);
    assertThat(back.damagedSlot()).isTrue();
  }

  @Test
  void aFailedIntentLeavesNothingInFlight() throws IOException {
    AtomicInteger persists = new AtomicInteger();
    ActivityLog log = log(16, persists);
    log.enter(0, 1);
    log.exit(0, 1);
    log.close();
    assertThatThrownBy(() -> log.enter(65536 - 1, 2)).isInstanceOf(IOException.class);
  }

  @Test
  void recoveredExtentsCoverTheirBlocks() {
    ActivityLog.Contents c = new ActivityLog.Contents(1, 16, new long[] {0, 3});
    DirtySet blocks = c.blocks(BlockGeometry.of(4096));
    assertThat(blocks.blockCount()).isEqualTo(32);
    assertThat(blocks.contains(48)).isTrue();
    assertThat(blocks.contains(64)).isFalse();
    assertThat(
            new ActivityLog.Contents(1, 16, new long[] {2})
                .blocks(BlockGeometry.of(1 << 20))
                .contains(0))
        .as("extent smaller than a block marks its block")
        .isTrue();
  }
}
