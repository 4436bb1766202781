package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.Allocation;
import io.cbtfs.syncer.HookedTarget;
import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.local.Targets;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The s3:// target against a real S3 API server (S3Proxy on loopback). */
class S3TargetTest extends S3ServerTest {
  S3Target target(String path) {
    return (S3Target) Targets.parse(server.uri(bucket + "/" + path), tmp);
  }

  Path restore(Restorable t, long generation) throws IOException {
    Path out = tmp.resolve("restored-" + generation + "-" + System.nanoTime());
    t.restore(generation, out, Restorable.RestoreProgress.NONE);
    return out;
  }

  /** What no chunk holds is never written by a restore: a sparse image restores sparse. */
  @Test
  void aSparseImageRestoresSparse() throws IOException {
    Path dir = Files.createDirectory(tmp.resolve("sparse"));
    Path image = dir.resolve("disk.img");
    long size = 32L << 20;
    Allocation.sparseFile(image, size);
    byte[] data = random(1 << 20, 9);
    try (TrackerStore store =
        TrackerStore.open(
            dir.resolve(".cbtfs"), TrackingOptions.defaults(BlockGeometry.of(65536)))) {
      TrackedImage tracked = store.image("disk.img", Fingerprint.sizeOnly(size));
      tracked.beforeWrite(8L << 20, data.length);
      try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.wrap(data), 8L << 20);
      }
      tracked.afterWrite(8L << 20, data.length);
      S3Target t = target("fleet/sparse");
      syncer.sync(new SyncSource(tracked, image), t, false, SyncProgress.NONE);
      Path out = restore(t, 1);
      assertThat(Files.mismatch(out, image)).isEqualTo(-1L);
      assertThat(Allocation.allocatedBytes(out)).isLessThanOrEqualTo(data.length + (256 << 10));
    }
  }

  @Test
  void everyGenerationRestoresByteExact() throws IOException {
    S3Target t = target("fleet/vm1");
    List<Path> copies = new ArrayList<>();
    Random r = new Random(7);
    for (int gen = 1; gen <= 5; gen++) {
      if (gen > 1) {
        for (int i = 0; i < 4; i++) {
          fx.write(r.nextInt((4 << 20) - 100_000), random(1 + r.nextInt(90_000), r.nextLong()));
        }
      }
      SyncReport rep = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      assertThat(rep.generation()).isEqualTo(gen);
      assertThat(rep.full()).isEqualTo(gen == 1);
      Path copy = tmp.resolve("image-at-" + gen);
      Files.copy(fx.image, copy);
      copies.add(copy);
    }
    assertThat(t.state().generation()).isEqualTo(5);
    for (int gen = 1; gen <= 5; gen++) {
      assertThat(Files.mismatch(restore(t, gen), copies.get(gen - 1)))
          .as("generation %d", gen)
          .isEqualTo(-1L);
    }
    List<Restorable.Generation> gens = t.generations();
    assertThat(gens)
        .extracting(Restorable.Generation::generation)
        .containsExactly(1L, 2L, 3L, 4L, 5L);
    assertThat(gens.get(0).full()).isTrue();
    assertThat(gens.get(1).full()).isFalse();
    assertThat(gens.get(4).imageSize()).isEqualTo(4 << 20);
  }

  @Test
  void aClonedImageStoresItsChunksOnce() throws IOException {
    S3Target vm1 = target("fleet/vm1");
    syncer.sync(fx.source(), vm1, false, SyncProgress.NONE);
    long chunks = objects("fleet/chunks");
    assertThat(chunks).isPositive();

    // vm2: a clone of vm1 (same bytes, its own tracking and lineage), then 3 blocks of its own
    try (SyncFixture clone =
        new SyncFixture(Files.createDirectory(tmp.resolve("clone")), 4 << 20, 5)) {
      assertThat(Files.mismatch(clone.image, fx.image)).isEqualTo(-1L);
      S3Target vm2 = target("fleet/vm2");
      SyncReport cloned = syncer.sync(clone.source(), vm2, false, SyncProgress.NONE);
      assertThat(objects("fleet/chunks")).isEqualTo(chunks); // nothing new
      assertThat(cloned.wireBytes()).isLessThan(4096); // the manifest only
      assertThat(vm2.lastUpload().uploadedChunks()).isZero();
      assertThat(vm2.lastUpload().dedupedChunks()).isEqualTo(chunks);

      clone.write(0, random(3 * 65536, 99));
      syncer.sync(clone.source(), vm2, false, SyncProgress.NONE);
      assertThat(objects("fleet/chunks")).isEqualTo(chunks + 1); // one 1 MiB grid cell changed
      // the whole cell is sent and stored (its 13 other blocks come from the image, not the store)
      assertThat(vm2.lastUpload().uploadedChunks()).isEqualTo(1);
      assertThat(vm2.lastUpload().uploadedBytes()).isBetween(1L << 20, (1L << 20) + 64);
      assertThat(Files.mismatch(restore(vm2, 2), clone.image)).isEqualTo(-1L);
      assertThat(Files.mismatch(restore(vm1, 1), fx.image)).isEqualTo(-1L);
    }
  }

  @Test
  void verifyComparesWithAGenerationAndNamesDifferences() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    BlockGeometry g = SyncFixture.G;
    try (FileChannel ch = FileChannel.open(fx.image)) {
      assertThat(Target.differing(t, ch, ch.size(), g, 10).isEmpty()).isTrue();
    }
    fx.write(5 * 65536 + 10, new byte[] {1, 2, 3});
    fx.write(3 << 20, new byte[] {9}); // inside the zero range the first sync stored as zero
    try (FileChannel ch = FileChannel.open(fx.image)) {
      assertThat(Target.differing(t, ch, ch.size(), g, 10).blockCount()).isEqualTo(2);
      assertThat(Restorable.differing(t, 1, ch, ch.size(), g, 10).blockCount()).isEqualTo(2);
    }
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    try (FileChannel ch = FileChannel.open(fx.image)) {
      assertThat(Target.differing(t, ch, ch.size(), g, 10).isEmpty()).isTrue();
      assertThat(Restorable.differing(t, 1, ch, ch.size(), g, 10).blockCount()).isEqualTo(2);
    }
  }

  /**
   * An image grown while not mounted, with data far past the old end: every grown block differs
   * (only the block at the old end did: the data past it never reached the store, and verify said
   * "identical"; found by the hostile pass on archives, the same here).
   */
  @Test
  void anImageGrownWhileNotMountedDiffersInEveryGrownBlock() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    long size = Files.size(fx.image);
    try (FileChannel ch = FileChannel.open(fx.image, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(random(100, 3)), size + (20L << 20)); // not tracked
    }
    try (FileChannel ch = FileChannel.open(fx.image)) {
      DirtySet d = Target.differing(t, ch, ch.size(), SyncFixture.G, Long.MAX_VALUE);
      assertThat(d.toBitmap().contains((int) ((size + (20L << 20)) / 65536))).isTrue();
      assertThat(d.blockCount()).isEqualTo((ch.size() + 65535) / 65536 - size / 65536);
    }
  }

  @Test
  void aCorruptChunkIsNamedByRestoreAndVerify() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    Path chunk;
    try (Stream<Path> s = Files.walk(server.bucketDir(bucket).resolve("chunks"))) {
      chunk = s.filter(Files::isRegularFile).findFirst().orElseThrow();
    }
    byte[] b = Files.readAllBytes(chunk);
    b[b.length - 1] ^= 0x40;
    Files.write(chunk, b);
    String name = chunk.getFileName().toString();
    Path out = tmp.resolve("out.img");
    assertThatThrownBy(() -> t.restore(1, out, Restorable.RestoreProgress.NONE))
        .hasMessageContaining(name)
        .hasMessageContaining("s3://" + bucket + "/chunks/");
    assertThat(out).doesNotExist();
    try (FileChannel ch = FileChannel.open(fx.image)) {
      assertThatThrownBy(() -> Target.differing(t, ch, ch.size(), SyncFixture.G, 10))
          .hasMessageContaining(name);
    }
  }

  @Test
  void wrongCredentialsGetAClearErrorAndChangeNothing() throws IOException {
    Path bad = tmp.resolve("bad-credentials");
    Files.writeString(bad, "[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n");
    S3Target t =
        (S3Target)
            Targets.parse(
                "s3://"
                    + bucket
                    + "/vm1?endpoint="
                    + server.endpoint()
                    + "&credentials-file="
                    + bad,
                tmp);
    assertThatThrownBy(() -> syncer.sync(fx.source(), t, false, SyncProgress.NONE))
        .hasMessageContaining("s3://" + bucket + "/")
        .hasMessageContaining("403");
    assertThat(fx.tracked.committedGeneration()).isZero();
    assertThat(objects("")).isZero();
  }

  @Test
  void aForeignOrOutOfOrderDeltaIsRefused() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    try (SyncFixture other = new SyncFixture(Files.createDirectory(tmp.resolve("o")), 1 << 20, 9)) {
      assertThatThrownBy(() -> syncer.sync(other.source(), t, false, SyncProgress.NONE))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("another image");
    }
    assertThat(t.state().generation()).isEqualTo(1);
  }

  /**
   * A delta that is not what was announced is refused naming where it was going: the image in its
   * store, s3://BUCKET/STORE/IMAGE (the store's prefix was left out: s3://BUCKET/IMAGE is no
   * object, and another store's image of that name could be taken for it).
   */
  @Test
  void aBadDeltaIsRefusedNamingTheImageInItsStore() throws IOException {
    S3Target t = target("fleet/vm1");
    java.util.UUID lineage = java.util.UUID.randomUUID();
    io.cbtfs.syncer.DeltaHeader announced =
        new io.cbtfs.syncer.DeltaHeader(lineage, 1 << 20, 65536, 0, 1, true);
    io.cbtfs.syncer.DeltaHeader sent =
        new io.cbtfs.syncer.DeltaHeader(lineage, 2 << 20, 65536, 0, 1, true);
    try (io.cbtfs.syncer.Delivery d = t.begin(announced, false)) {
      new io.cbtfs.syncer.DeltaWriter(d.stream(), sent).finish();
      assertThatThrownBy(d::commit)
          .hasMessageContaining("s3://" + bucket + "/fleet/vm1")
          .hasMessageContaining("header differs");
    }
    assertThat(t.state().exists()).isFalse();
  }

  /** {@code inner}, with a stream that runs {@code onCut} and fails after {@code bytes} bytes. */
  static io.cbtfs.syncer.Target cutAfter(io.cbtfs.syncer.Target inner, long bytes, Runnable onCut) {
    return new HookedTarget(
        inner,
        (written, length) -> {
          if (written + length > bytes) {
            onCut.run();
            throw new IOException("connection cut after " + written + " bytes");
          }
        });
  }

  @Test
  void anInterruptedSyncResumesWithoutUploadingAgain() throws IOException {
    S3Target t = target("vm1");
    assertThatThrownBy(
            () ->
                syncer.sync(fx.source(), cutAfter(t, 3 << 20, () -> {}), false, SyncProgress.NONE))
        .hasMessageContaining("connection cut");
    assertThat(t.state().exists()).isFalse(); // no manifest: no generation
    long kept = objects("chunks");
    assertThat(kept).isPositive();

    SyncReport resumed = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    S3Target.UploadStats second = t.lastUpload();
    long total = objects("chunks");
    assertThat(second.dedupedChunks()).isEqualTo(kept); // found, not sent again
    assertThat(second.uploadedChunks()).isEqualTo(total - kept).isLessThan(total);
    assertThat(resumed.generation()).as("the cut sync's number is not issued again").isEqualTo(2);
    assertThat(Files.mismatch(restore(t, 2), fx.image)).isEqualTo(-1L);
  }

  @Test
  void theServerStoppedMidSyncLeavesNoHalfGenerationAndTheNextSyncCompletes() throws Exception {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    Path first = tmp.resolve("gen1");
    Files.copy(fx.image, first);
    Random r = new Random(3);
    for (int i = 0; i < 40; i++) {
      fx.write((long) i * 100_000, random(60_000, r.nextLong()));
    }
    long dirty = fx.tracked.dirtyBlocks().blockCount();
    try {
      assertThatThrownBy(
              () ->
                  syncer.sync(
                      fx.source(),
                      cutAfter(
                          t,
                          1 << 20,
                          () -> {
                            try {
                              server.stop();
                            } catch (InterruptedException e) {
                              throw new IllegalStateException(e);
                            }
                          }),
                      false,
                      SyncProgress.NONE))
          .isInstanceOf(IOException.class);
    } finally {
      server.restart();
    }
    assertThat(fx.tracked.dirtyBlocks().blockCount()).isEqualTo(dirty); // nothing lost
    assertThat(t.state().generation()).isEqualTo(1);
    assertThat(Files.mismatch(restore(t, 1), first)).isEqualTo(-1L);

    SyncReport next = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    assertThat(next.generation()).as("2 went to the failed sync").isEqualTo(3);
    assertThat(Files.mismatch(restore(t, 3), fx.image)).isEqualTo(-1L);
  }

  @Test
  void aFullSyncOfAnotherImageReplacesTheHistory() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    fx.write(0, random(1000, 1));
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    try (SyncFixture other = new SyncFixture(Files.createDirectory(tmp.resolve("o")), 1 << 20, 9)) {
      syncer.sync(other.source(), t, true, SyncProgress.NONE); // --full: overwrite deliberately
      assertThat(t.state().lineage()).isEqualTo(other.tracked.lineage());
      assertThat(t.state().generation()).isEqualTo(1);
      assertThat(t.generations()).extracting(Restorable.Generation::generation).containsExactly(1L);
      assertThat(Files.mismatch(restore(t, 1), other.image)).isEqualTo(-1L);
    }
  }

  /**
   * A sync stalls past the lock's lease (here 2 s); a gc on another host takes its lock for a dead
   * one's and sweeps the chunks it had uploaded. The sync notices at commit, commits nothing, and
   * keeps its blocks dirty; the next sync stores the generation whole.
   */
  @Test
  void aSyncThatStalledWhileAGcSweptCommitsNothingBroken() throws Exception {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    fx.write(0, random(3 << 20, 4)); // three new cells
    long before = objects("chunks");
    java.time.Duration saved = StoreLock.stale;
    StoreLock.stale = java.time.Duration.ofSeconds(2);
    try {
      Runnable stallThenSweep =
          () -> {
            try {
              long deadline = System.nanoTime() + 60_000_000_000L;
              while (objects("chunks") <= before) { // until an upload of this sync landed
                if (System.nanoTime() > deadline) {
                  throw new IllegalStateException("no chunk of the sync arrived in 60 s");
                }
                Thread.onSpinWait();
              }
              Thread.sleep(2_500); // the stall: longer than the lease
              new S3Gc(server.uri(bucket))
                  .run(1, java.time.Duration.ZERO, false, java.time.Duration.ofSeconds(30));
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
          };
      assertThatThrownBy(
              () ->
                  syncer.sync(
                      fx.source(),
                      stallAfter(t, 2 << 20, stallThenSweep),
                      false,
                      SyncProgress.NONE))
          .hasMessageContaining("was removed by a gc while this sync stalled");
    } finally {
      StoreLock.stale = saved;
    }
    assertThat(t.state().generation()).isEqualTo(1);
    assertThat(fx.tracked.dirtyBlocks().blockCount()).isEqualTo(48);
    SyncReport next = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    assertThat(Files.mismatch(restore(t, next.generation()), fx.image)).isEqualTo(-1L);
  }

  /** {@code inner}, with a stream that runs {@code stall} once, when {@code bytes} went on. */
  static io.cbtfs.syncer.Target stallAfter(
      io.cbtfs.syncer.Target inner, long bytes, Runnable stall) {
    boolean[] stalled = {false};
    return new HookedTarget(
        inner,
        (written, length) -> {
          if (!stalled[0] && written > bytes) {
            stalled[0] = true;
            stall.run();
          }
        });
  }

  /** Throttling (503 SlowDown) and server errors (500) on every 5th request are retried. */
  @Test
  void throttlingAndServerErrorsAreRetried() throws IOException {
    int port = java.net.URI.create(server.endpoint()).getPort();
    for (int status : new int[] {503, 500}) {
      try (FaultyHttpProxy proxy = new FaultyHttpProxy(port, 5, status)) {
        String uri =
            "s3://"
                + bucket
                + "/vm"
                + status
                + "?endpoint="
                + proxy.endpoint()
                + "&credentials-file="
                + server.credentialsFile();
        S3Target t = (S3Target) Targets.parse(uri, tmp);
        fx.write(status * 1000L, random(70_000, status)); // something new for each round
        syncer.sync(fx.source(), t, true, SyncProgress.NONE);
        Path out = tmp.resolve("out-" + status);
        t.restore(t.state().generation(), out, Restorable.RestoreProgress.NONE);
        assertThat(Files.mismatch(out, fx.image)).isEqualTo(-1L);
        assertThat(proxy.injected.get()).as("errors injected").isGreaterThan(3);
      }
    }
  }

  /** An incremental sync reads the latest manifest once: its key and its contents. */
  @Test
  void aSyncGetsTheLatestManifestOnce() throws IOException {
    int port = java.net.URI.create(server.endpoint()).getPort();
    try (FaultyHttpProxy proxy = new FaultyHttpProxy(port, Integer.MAX_VALUE, 503)) {
      String uri =
          "s3://"
              + bucket
              + "/once/vm?endpoint="
              + proxy.endpoint()
              + "&credentials-file="
              + server.credentialsFile();
      S3Target t = (S3Target) Targets.parse(uri, tmp);
      fx.write(0, random(70_000, 1));
      syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      fx.write(1 << 20, random(70_000, 2));
      proxy.requestLines.clear();
      syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      assertThat(t.state().generation()).isEqualTo(2);
      assertThat(proxy.requestLines)
          .filteredOn(l -> l.startsWith("GET ") && l.contains("gen-00000000000000000001.manifest"))
          .hasSize(1);
    }
  }
}
