package io.cbtfs.syncer.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.cbtfs.syncer.BorrowingStream;
import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaWriter;
import io.cbtfs.syncer.EncodedRecord;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.CbtfsException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicaTargetTest {
  static final UUID LINEAGE = UUID.randomUUID();
  static final int SIZE = 1 << 20;
  @TempDir Path dir;

  /** The first full delta of an image of {@link #LINEAGE}. */
  static final DeltaHeader FIRST_FULL = new DeltaHeader(LINEAGE, SIZE, 65536, 0, 1, true);

  Path file;
  ReplicaTarget replica;
  byte[] base;

  /** Beside {@code r.img}: a replica that does not exist yet. */
  Path fresh;

  static byte[] randomImage(long seed) {
    byte[] image = new byte[SIZE];
    new Random(seed).nextBytes(image);
    return image;
  }

  static byte[] delta(DeltaHeader h, long offset, byte[] data) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, h);
    w.write(new RecordCodec().encode(offset, data, data.length));
    w.finish();
    return out.toByteArray();
  }

  private long deliver(DeltaHeader h, byte[] bytes) throws IOException {
    return deliver(replica, h, bytes);
  }

  private static long deliver(ReplicaTarget target, DeltaHeader h, byte[] bytes)
      throws IOException {
    try (Delivery d = target.begin(h, false)) {
      d.stream().write(bytes);
      return d.commit();
    } finally {
      target.close(); // the sync is over
    }
  }

  @BeforeEach
  void seed() throws IOException {
    file = dir.resolve("r.img");
    replica = new ReplicaTarget(file);
    fresh = dir.resolve("fresh.img");
    base = randomImage(1);
    assertThat(deliver(FIRST_FULL, delta(FIRST_FULL, 0, base))).isEqualTo(1);
    assertThat(Files.readAllBytes(file)).isEqualTo(base);
    replica.state(); // its settle is done
  }

  @AfterEach
  void settled() {
    Settles.awaitAll(); // nothing writes into the folder while it is removed
  }

  /** A folder, a link or a FIFO at the replica's name is never synced into, --full or not. */
  @Test
  void aPathThatIsNoRegularFileIsRefusedBeforeAnythingIsWritten() throws Exception {
    Path folder = Files.createDirectory(dir.resolve("folder.img"));
    Path link = Files.createSymbolicLink(dir.resolve("link.img"), file);
    Path fifo = dir.resolve("fifo.img");
    assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    for (Path p : new Path[] {folder, link, fifo}) {
      ReplicaTarget t = new ReplicaTarget(p);
      for (boolean full : new boolean[] {false, true}) {
        assertThatThrownBy(() -> t.begin(FIRST_FULL, full))
            .as("%s, --full %s", p.getFileName(), full)
            .isInstanceOf(CbtfsException.class)
            .hasMessageContaining("is not a regular file");
      }
    }
    assertThat(Files.readAllBytes(file)).as("the link's target").isEqualTo(base);
    try (var listed = Files.list(dir)) {
      assertThat(listed.map(p -> p.getFileName().toString()))
          .noneMatch(
              n -> n.contains("folder.img.") || n.contains("link.img.") || n.contains("fifo.img."));
    }
  }

  /** Its sidecar files must fit in a file name: a longer replica name is refused up front. */
  @Test
  void aReplicaNameTooLongForItsSidecarsIsRefused() {
    assertThatThrownBy(() -> new ReplicaTarget(dir.resolve("n".repeat(240))))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("at most 239 bytes");
    assertThat(new ReplicaTarget(dir.resolve("n".repeat(239))).describe()).endsWith("n");
  }

  @Test
  void everyCorruptionOfADeltaLeavesTheReplicaAsItWas() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] good = delta(next, 65536, new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
    for (int i = 0; i < good.length; i += 3) {
      byte[] bad = good.clone();
      bad[i] ^= 0x10;
      assertThatThrownBy(() -> deliver(next, bad))
          .as("byte %d", i)
          .isInstanceOf(CorruptDeltaException.class);
      byte[] cut = Arrays.copyOf(good, i);
      assertThatThrownBy(() -> deliver(next, cut))
          .as("cut at %d", i)
          .isInstanceOf(CorruptDeltaException.class);
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(base);
    assertThat(replica.state().generation()).isEqualTo(1);
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder(
              "r.img", ".r.img.cbtfs-meta", ".r.img.cbtfs-lock", ".r.img.cbtfs-sync");
    }
    assertThat(deliver(next, good)).isEqualTo(2);
  }

  @Test
  void outOfOrderAndForeignDeltasAreRefusedBeforeAnythingIsWritten() throws IOException {
    DeltaHeader skip = new DeltaHeader(LINEAGE, SIZE, 65536, 3, 4, false);
    assertThatThrownBy(() -> replica.begin(skip, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("out of order");
    DeltaHeader foreign = new DeltaHeader(UUID.randomUUID(), SIZE, 65536, 0, 1, true);
    assertThatThrownBy(() -> replica.begin(foreign, false))
        .hasMessageContaining("holds another image");
    assertThat(Files.readAllBytes(file)).isEqualTo(base);
    ReplicaTarget empty = new ReplicaTarget(dir.resolve("new.img"));
    assertThatThrownBy(() -> empty.begin(new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false), false))
        .hasMessageContaining("needs a full sync");
  }

  @Test
  void theSameGenerationAppliedTwiceIsHarmless() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] d = delta(next, 0, new byte[] {9, 9, 9});
    deliver(next, d);
    byte[] once = Files.readAllBytes(file);
    assertThat(deliver(next, d)).isEqualTo(2);
    assertThat(Files.readAllBytes(file)).isEqualTo(once);
  }

  @Test
  void anInterruptedApplyIsFinishedAtTheNextUse() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] d = delta(next, 4096, new byte[] {7, 7});
    // a crash right after the commit point: the journal exists, the replica is untouched
    Files.write(dir.resolve(".r.img.cbtfs-apply"), d);
    Files.write(dir.resolve(".r.img.cbtfs-staging"), new byte[] {1, 2, 3}); // unverified junk
    TargetState s = new ReplicaTarget(file).state();
    assertThat(s.generation()).isEqualTo(2);
    byte[] now = Files.readAllBytes(file);
    assertThat(now[4096]).isEqualTo((byte) 7);
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).isFalse();
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-staging"))).isFalse();
  }

  @Test
  void rawCompressedAndZeroRecordsAllLandWhereTheyBelong() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] random = new byte[65536];
    new Random(7).nextBytes(random);
    byte[] text = "cbtfs compresses this line well. ".repeat(4000).substring(0, 131072).getBytes();
    byte[] zeros = new byte[65536];
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, next);
    RecordCodec codec = new RecordCodec();
    var records =
        List.of(
            codec.encode(65536, random, random.length),
            codec.encode(196608, text, text.length),
            codec.encode(524288, zeros, zeros.length));
    assertThat(records.stream().map(r -> r.kind()))
        .containsExactly(RecordKind.DATA_RAW, RecordKind.DATA_LZ4, RecordKind.ZERO);
    for (var r : records) {
      w.write(r);
    }
    w.finish();
    assertThat(deliver(next, out.toByteArray())).isEqualTo(2);
    byte[] expected = base.clone();
    System.arraycopy(random, 0, expected, 65536, random.length);
    System.arraycopy(text, 0, expected, 196608, text.length);
    System.arraycopy(zeros, 0, expected, 524288, zeros.length);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  /** Large records from direct buffers, as a sync sends them: raw, compressed, raw. */
  private static List<EncodedRecord> largeDirectRecords(byte[] expected) {
    RecordCodec codec = new RecordCodec();
    List<EncodedRecord> records = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      byte[] data = new byte[256 << 10];
      if (i == 1) {
        Arrays.fill(data, (byte) 'c');
      } else {
        new Random(20 + i).nextBytes(data);
      }
      int offset = i * (256 << 10) + (i == 2 ? 256 << 10 : 0); // a gap before the last
      System.arraycopy(data, 0, expected, offset, data.length);
      ByteBuffer direct = ByteBuffer.allocateDirect(data.length).put(data).flip();
      records.add(codec.encode(offset, direct, null));
    }
    assertThat(records.stream().map(EncodedRecord::kind))
        .containsExactly(RecordKind.DATA_RAW, RecordKind.DATA_LZ4, RecordKind.DATA_RAW);
    return records;
  }

  @Test
  void borrowedPayloadsLandAndEachIsGivenBackOnce() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] expected = base.clone();
    List<EncodedRecord> records = largeDirectRecords(expected);
    AtomicIntegerArray givenBack = new AtomicIntegerArray(records.size());
    try (Delivery d = replica.begin(next, false)) {
      assertThat(d.stream()).isInstanceOf(BorrowingStream.class);
      DeltaWriter w = new DeltaWriter(d.stream(), next);
      for (int i = 0; i < records.size(); i++) {
        int record = i;
        w.write(records.get(i), () -> givenBack.incrementAndGet(record));
      }
      w.finish();
      assertThat(d.commit()).isEqualTo(2);
    } finally {
      replica.close();
    }
    for (int i = 0; i < records.size(); i++) {
      assertThat(givenBack.get(i)).as("record %d given back", i).isEqualTo(1);
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void aRecordWrittenWithoutACallbackIsCopiedBeforeWriteReturns() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] expected = base.clone();
    List<EncodedRecord> records = largeDirectRecords(expected);
    try (Delivery d = replica.begin(next, false)) {
      DeltaWriter w = new DeltaWriter(d.stream(), next);
      for (EncodedRecord r : records) {
        w.write(r);
        ByteBuffer reused = r.payload().duplicate(); // the caller's next run, at once
        while (reused.hasRemaining()) {
          reused.put((byte) 0x77);
        }
      }
      w.finish();
      assertThat(d.commit()).isEqualTo(2);
    } finally {
      replica.close();
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void aDeliveryAbandonedMidStreamGivesEveryBorrowedPayloadBack() throws Exception {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    List<EncodedRecord> records = largeDirectRecords(base.clone());
    CountDownLatch allBack = new CountDownLatch(records.size());
    AtomicInteger extra = new AtomicInteger();
    AtomicIntegerArray givenBack = new AtomicIntegerArray(records.size());
    try (Delivery d = replica.begin(next, false)) {
      DeltaWriter w = new DeltaWriter(d.stream(), next);
      for (int i = 0; i < records.size(); i++) {
        int record = i;
        w.write(
            records.get(i),
            () -> {
              if (givenBack.incrementAndGet(record) == 1) {
                allBack.countDown();
              } else {
                extra.incrementAndGet();
              }
            });
      }
      // no trailer, no commit: the sync failed
    } finally {
      replica.close();
    }
    assertThat(allBack.await(30, TimeUnit.SECONDS)).as("every payload given back").isTrue();
    assertThat(extra.get()).as("payloads given back twice").isZero();
    assertThat(Files.readAllBytes(file)).isEqualTo(base);
  }

  @Test
  void aLongStreamRejectedEarlyStopsTheSenderWithoutWaiting() {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    byte[] garbage = new byte[1 << 20];
    new Random(3).nextBytes(garbage);
    assertTimeoutPreemptively(
        Duration.ofSeconds(20),
        () ->
            assertThatThrownBy(
                    () -> {
                      try (Delivery d = replica.begin(next, false)) {
                        d.stream().write(next.encode());
                        for (int i = 0; i < 64; i++) { // far more than the staging buffers hold
                          d.stream().write(garbage);
                        }
                        d.commit();
                      }
                    })
                .isInstanceOf(CorruptDeltaException.class));
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-staging"))).isFalse();
  }

  @Test
  void aSecondSyncToTheSameReplicaIsRefusedWhileTheFirstStages() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    try (Delivery first = replica.begin(next, false)) {
      assertThatThrownBy(() -> new ReplicaTarget(file).begin(next, false))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("another sync to file:");
      // a reader of the replica's state leaves the first sync's staging file alone
      assertThat(new ReplicaTarget(file).state().generation()).isEqualTo(1);
      first.stream().write(delta(next, 0, new byte[] {3}));
      assertThat(first.commit()).isEqualTo(2);
    } finally {
      replica.close();
    }
    assertThat(Files.readAllBytes(file)[0]).isEqualTo((byte) 3);
    DeltaHeader after = new DeltaHeader(LINEAGE, SIZE, 65536, 2, 3, false);
    assertThat(deliver(after, delta(after, 0, new byte[] {4}))).isEqualTo(3);
  }

  @Test
  void lookingAtAReplicaDoesNotDropTheLockOfASyncInThisProcess() throws Exception {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    Path syncLock = dir.resolve(".r.img.cbtfs-sync");
    try (Delivery d = replica.begin(next, false)) {
      assertThat(LockProbe.freeForAnotherProcess(syncLock)).isFalse();
      // a staging file exists, so this asks for the sync lock; closing a descriptor of a locked
      // file would drop this process's lock on it, and another process could then start a sync
      assertThat(new ReplicaTarget(file).state().generation()).isEqualTo(1);
      assertThat(LockProbe.freeForAnotherProcess(syncLock)).isFalse();
    } finally {
      replica.close();
    }
    assertThat(LockProbe.freeForAnotherProcess(syncLock)).isTrue();
  }

  @Test
  void aStagingFileReplacedUnderADeliveryIsNotCommitted() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    Path staging = dir.resolve(".r.img.cbtfs-staging");
    try (Delivery d = replica.begin(next, false)) {
      d.stream().write(delta(next, 0, new byte[] {6}));
      d.stream().flush();
      Files.delete(staging);
      Files.write(staging, delta(next, 0, new byte[] {9})); // someone else's, sound on its own
      assertThatThrownBy(d::commit).hasMessageContaining("was replaced");
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(base);
    assertThat(replica.state().generation()).isEqualTo(1);
  }

  @Test
  void verifyFinishesAJournalACrashLeft() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    Files.write(dir.resolve(".r.img.cbtfs-apply"), delta(next, 4096, new byte[] {7, 7}));
    byte[] expected = base.clone();
    expected[4096] = 7;
    expected[4097] = 7;
    Path image = dir.resolve("source.img");
    Files.write(image, expected);
    try (FileChannel img = FileChannel.open(image)) {
      assertThat(
              io.cbtfs.syncer.Target.differing(
                      new ReplicaTarget(file),
                      img,
                      SIZE,
                      io.cbtfs.tracker.BlockGeometry.of(65536),
                      10)
                  .isEmpty())
          .isTrue();
    }
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).isFalse();
  }

  @Test
  void aJournalOfARemovedReplicaRebuildsNothing() throws IOException {
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    Files.write(dir.resolve(".r.img.cbtfs-apply"), delta(next, 4096, new byte[] {7, 7}));
    Files.delete(file);
    // applying it would make a file of two bytes that claims generation 2
    assertThat(new ReplicaTarget(file).state().exists()).isFalse();
    assertThat(Files.exists(file)).isFalse();
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).isFalse();
  }

  private static byte[] fullDelta(DeltaHeader full, byte[] image) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, full);
    RecordCodec codec = new RecordCodec();
    for (int at = 0; at < image.length; at += 65536) {
      w.write(codec.encode(at, Arrays.copyOfRange(image, at, at + 65536), 65536));
    }
    w.finish();
    return out.toByteArray();
  }

  @Test
  void theFirstFullSyncWritesTheNewReplicaOnceWithoutStagingIt() throws IOException {
    ReplicaTarget target = new ReplicaTarget(fresh);
    byte[] image = randomImage(9);
    Arrays.fill(image, 4 * 65536, 6 * 65536, (byte) 0); // zero records: holes
    byte[] delta = fullDelta(FIRST_FULL, image);
    try (Delivery d = target.begin(FIRST_FULL, false)) {
      d.stream().write(delta, 0, delta.length / 2);
      d.stream().flush();
      assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-staging"))).isFalse();
      assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-new"))).isTrue();
      assertThat(Files.exists(fresh)).as("no replica before the commit").isFalse();
      d.stream().write(delta, delta.length / 2, delta.length - delta.length / 2);
      assertThat(d.commit()).isEqualTo(1);
    } finally {
      target.close();
    }
    assertThat(Files.readAllBytes(fresh)).isEqualTo(image);
    assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-new"))).isFalse();
    assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-apply"))).isFalse();
    assertThat(target.state().generation()).isEqualTo(1);
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    assertThat(deliver(target, next, delta(next, 65536, new byte[] {9}))).isEqualTo(2);
    assertThat(Files.readAllBytes(fresh)[65536]).isEqualTo((byte) 9);
  }

  @Test
  void aFirstFullSyncThatFailsLeavesNoReplicaBehind() throws IOException {
    ReplicaTarget target = new ReplicaTarget(fresh);
    byte[] image = randomImage(10);
    byte[] corrupt = fullDelta(FIRST_FULL, image);
    corrupt[corrupt.length / 2] ^= 1;
    try (Delivery d = target.begin(FIRST_FULL, false)) {
      assertThatThrownBy(
              () -> {
                d.stream().write(corrupt);
                d.commit();
              })
          .isInstanceOf(CorruptDeltaException.class);
    } finally {
      target.close();
    }
    byte[] good = fullDelta(FIRST_FULL, image);
    try (Delivery d = target.begin(FIRST_FULL, false)) {
      d.stream().write(good, 0, good.length / 3); // then the sync fails: no commit
    } finally {
      target.close();
    }
    assertThat(Files.exists(fresh)).isFalse();
    assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-new"))).isFalse();
    assertThat(target.state().exists()).isFalse();
  }

  @Test
  void aNewImageReplacedUnderItsDeliveryIsNotInstalled() throws IOException {
    ReplicaTarget target = new ReplicaTarget(fresh);
    byte[] image = randomImage(12);
    byte[] delta = fullDelta(FIRST_FULL, image);
    Path written = dir.resolve(".fresh.img.cbtfs-new");
    try (Delivery d = target.begin(FIRST_FULL, false)) {
      d.stream().write(delta, 0, delta.length / 2);
      Files.delete(written);
      Files.write(written, new byte[SIZE]); // planted: not what the verifier passed
      d.stream().write(delta, delta.length / 2, delta.length - delta.length / 2);
      assertThatThrownBy(d::commit)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("replaced");
    } finally {
      target.close();
    }
    assertThat(Files.exists(fresh)).isFalse();
    assertThat(target.state().exists()).isFalse();
  }

  @Test
  void aReplicaThatAppearsDuringTheFirstFullSyncIsLeftAsItIs() throws IOException {
    ReplicaTarget target = new ReplicaTarget(fresh);
    byte[] image = randomImage(13);
    try (Delivery d = target.begin(FIRST_FULL, false)) {
      d.stream().write(fullDelta(FIRST_FULL, image));
      Files.write(fresh, "an operator's own file".getBytes());
      assertThatThrownBy(d::commit)
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("appeared");
    } finally {
      target.close();
    }
    assertThat(Files.readString(fresh)).isEqualTo("an operator's own file");
    assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-new"))).isFalse();
  }

  @Test
  void aFullDeltaIntoAnExistingReplicaIsStillStagedFirst() throws IOException {
    byte[] image = randomImage(14);
    DeltaHeader full = new DeltaHeader(LINEAGE, SIZE, 65536, 0, 2, true);
    byte[] delta = fullDelta(full, image);
    try (Delivery d = replica.begin(full, false)) {
      d.stream().write(delta, 0, delta.length / 2);
      d.stream().flush();
      assertThat(Files.exists(dir.resolve(".r.img.cbtfs-staging"))).isTrue();
      assertThat(Files.exists(dir.resolve(".r.img.cbtfs-new"))).isFalse();
      assertThat(Files.readAllBytes(file)).as("untouched while staging").isEqualTo(base);
      d.stream().write(delta, delta.length / 2, delta.length - delta.length / 2);
      assertThat(d.commit()).isEqualTo(2);
    } finally {
      replica.close();
    }
    assertThat(Files.readAllBytes(file)).isEqualTo(image);
  }

  @Test
  void aNewImageACrashLeftIsDiscardedAndOldMetadataNeverDescribesTheNewReplica()
      throws IOException {
    ReplicaTarget target = new ReplicaTarget(fresh);
    Files.write(dir.resolve(".fresh.img.cbtfs-new"), new byte[] {1, 2, 3}); // a crash's leftover
    // the metadata of a replica since deleted, at a generation the next full sync must replace
    Files.copy(dir.resolve(".r.img.cbtfs-meta"), dir.resolve(".fresh.img.cbtfs-meta"));
    assertThat(target.state().exists()).as("no replica, so nothing").isFalse();
    assertThat(Files.exists(dir.resolve(".fresh.img.cbtfs-new"))).isFalse();
    byte[] image = randomImage(11);
    UUID other = UUID.randomUUID();
    DeltaHeader full = new DeltaHeader(other, SIZE, 65536, 0, 7, true);
    assertThat(deliver(target, full, fullDelta(full, image))).isEqualTo(7);
    assertThat(Files.readAllBytes(fresh)).isEqualTo(image);
    assertThat(target.state().generation()).isEqualTo(7);
    assertThat(target.state().lineage()).isEqualTo(other);
  }

  @Test
  void aPlantedSymbolicLinkIsNeverWrittenThrough() throws IOException {
    Path outside = dir.getParent().resolve("outside-" + System.nanoTime());
    Files.createSymbolicLink(dir.resolve(".r.img.cbtfs-meta.tmp"), outside);
    DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
    deliver(next, delta(next, 0, new byte[] {5})); // committed: the journal holds it
    // the background settle could not record the generation; the next use says why
    assertThatThrownBy(() -> replica.state()).isInstanceOf(IOException.class);
    assertThat(Files.exists(outside)).as("nothing written outside the folder").isFalse();
    assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).as("journal kept").isTrue();
    Files.delete(dir.resolve(".r.img.cbtfs-meta.tmp"));
    assertThat(replica.state().generation()).isEqualTo(2);
  }

  @Test
  void aCommittedDeltaReadsAtOnceAndItsStateWaitsForTheSettle() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    replica = new ReplicaTarget(file, () -> awaitQuietly(release));
    try {
      DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
      assertThat(deliver(next, delta(next, 8192, new byte[] {4, 2}))).isEqualTo(2);
      // the sync is done: the replica reads as generation 2, the journal makes that durable
      assertThat(Files.readAllBytes(file)[8192]).isEqualTo((byte) 4);
      assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).isTrue();
      assertThat(SidecarMeta.read(dir.resolve(".r.img.cbtfs-meta")).generation()).isEqualTo(1);
      // a reader of its state (another sync, verify) waits for the settle, then sees generation 2
      CompletableFuture<Long> seen = generationSeenBy(dir.resolve(".").resolve("r.img"));
      assertThatThrownBy(() -> seen.get(300, TimeUnit.MILLISECONDS))
          .isInstanceOf(TimeoutException.class);
      release.countDown();
      assertThat(seen.get(10, TimeUnit.SECONDS)).isEqualTo(2);
      assertThat(Files.exists(dir.resolve(".r.img.cbtfs-apply"))).isFalse();
      assertThat(SidecarMeta.read(dir.resolve(".r.img.cbtfs-meta")).generation()).isEqualTo(2);
    } finally {
      release.countDown();
    }
  }

  @Test
  void aSettleIsFoundThroughAnySpellingOfTheReplicasFolder(@TempDir Path elsewhere)
      throws Exception {
    Path link = Files.createSymbolicLink(elsewhere.resolve("link"), dir);
    CountDownLatch release = new CountDownLatch(1);
    replica = new ReplicaTarget(file, () -> awaitQuietly(release));
    try {
      DeltaHeader next = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
      assertThat(deliver(next, delta(next, 8192, new byte[] {4, 2}))).isEqualTo(2);
      // the same replica through a symbolic link to its folder: the same settle, the same locks
      CompletableFuture<Long> seen = generationSeenBy(link.resolve("r.img"));
      assertThatThrownBy(() -> seen.get(300, TimeUnit.MILLISECONDS))
          .isInstanceOf(TimeoutException.class);
      release.countDown();
      assertThat(seen.get(10, TimeUnit.SECONDS)).isEqualTo(2);
    } finally {
      release.countDown();
    }
  }

  /** The generation a new target on {@code replicaPath} reads, on another thread. */
  private static CompletableFuture<Long> generationSeenBy(Path replicaPath) {
    return CompletableFuture.supplyAsync(
        () -> {
          try {
            return new ReplicaTarget(replicaPath).state().generation();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void corruptMetadataIsAClearError() throws IOException {
    Files.write(dir.resolve(".r.img.cbtfs-meta"), new byte[] {1});
    assertThatThrownBy(() -> replica.state())
        .isInstanceOf(CorruptDeltaException.class)
        .hasMessageContaining("metadata is corrupt");
  }
}
