package io.cbtfs.syncer.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Syncer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An archive's generation files, whatever numbers the tracker issues. */
class ArchiveTargetTest {
  @TempDir Path tmp;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);
  ArchiveTarget archive;

  @BeforeEach
  void setUp() throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 1 << 20, 7);
    archive = new ArchiveTarget(tmp.resolve("archive"));
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  /**
   * Each mount skips the issued generation ahead by 2^20 to 2^21, so a host that remounts daily
   * passes 10^8 within three months: the generation then takes nine digits in its file name, and
   * the archive must still list, chain and restore it (it named the file but never found it again:
   * the newest backups were unrestorable while every sync succeeded).
   */
  @Test
  void generationsPastEightDigitsRestore() throws IOException {
    Random rnd = new Random(11);
    long generation = 0;
    byte[] eightDigits = null;
    long lastEightDigits = 0;
    while (generation < 100_000_000L) {
      fx.crashAndRecover(); // as a remount: the next sync skips ahead
      byte[] block = new byte[4096];
      rnd.nextBytes(block);
      fx.write(rnd.nextInt((1 << 20) - 4096), block);
      SyncReport report = syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
      assertThat(report.generation()).isGreaterThan(generation);
      if (report.generation() < 100_000_000L) {
        eightDigits = Files.readAllBytes(fx.image);
        lastEightDigits = report.generation();
      }
      generation = report.generation();
    }
    fx.write(0, new byte[] {1, 2, 3});
    long next = syncer.sync(fx.source(), archive, false, SyncProgress.NONE).generation();

    assertThat(archive.generations().stream().map(Restorable.Generation::generation))
        .contains(lastEightDigits, generation, next);
    Path out = tmp.resolve("restored");
    archive.restore(next, out, Restorable.RestoreProgress.NONE);
    assertThat(Files.readAllBytes(out)).isEqualTo(Files.readAllBytes(fx.image));
    Files.delete(out);
    archive.restore(lastEightDigits, out, Restorable.RestoreProgress.NONE);
    assertThat(Files.readAllBytes(out)).isEqualTo(eightDigits);
  }

  @Test
  void aFileIsAGenerationOnlyAsFileNameSpellsIt() {
    assertThat(ArchiveTarget.generationOf("gen-00000007.cbtd")).isEqualTo(7);
    assertThat(ArchiveTarget.generationOf("gen-100000000.cbtd")).isEqualTo(100_000_000L);
    assertThat(ArchiveTarget.generationOf("gen-4611686018427387904.cbtd")).isEqualTo(1L << 62);
    assertThat(ArchiveTarget.generationOf("gen-0000007.cbtd")).isEqualTo(-1);
    assertThat(ArchiveTarget.generationOf("gen-0100000000.cbtd")).isEqualTo(-1);
    assertThat(ArchiveTarget.generationOf("gen-9999999999999999999.cbtd")).isEqualTo(-1);
    assertThat(ArchiveTarget.generationOf(".staging.cbtd")).isEqualTo(-1);
  }

  /**
   * Asking what an archive holds changes nothing in its folder (a gc's dry run, a verify, a status
   * ask it); the next sync, under the archive's lock, discards what a killed sync or gc left.
   */
  @Test
  void stateChangesNothingAndTheNextSyncDiscardsLeftovers() throws IOException {
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    Path dir = tmp.resolve("archive");
    Files.write(dir.resolve(".staging.cbtd"), SyncFixture.random(3000, 5)); // a killed sync's
    Files.write(dir.resolve(ArchiveGc.FOLD), SyncFixture.random(3000, 6)); // a killed gc's
    java.util.Map<String, byte[]> before = contents(dir);
    assertThat(archive.state().generation()).isEqualTo(archive.generations().get(0).generation());
    java.util.Map<String, byte[]> after = contents(dir);
    assertThat(after.keySet()).isEqualTo(before.keySet());
    before.forEach((name, bytes) -> assertThat(after.get(name)).as(name).isEqualTo(bytes));

    fx.write(4096, SyncFixture.random(100, 7));
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    assertThat(dir.resolve(".staging.cbtd")).doesNotExist();
    assertThat(dir.resolve(ArchiveGc.FOLD)).doesNotExist();
    assertThat(archive.generations()).hasSize(2);
  }

  /** Every file of {@code dir} by name, with its bytes. */
  private static java.util.Map<String, byte[]> contents(Path dir) throws IOException {
    java.util.Map<String, byte[]> out = new java.util.TreeMap<>();
    try (var files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        out.put(f.getFileName().toString(), Files.readAllBytes(f));
      }
    }
    return out;
  }

  /** The blocks {@code Restorable.differing} finds between its latest generation and the image. */
  private java.util.Set<Integer> differingBlocks() throws IOException {
    long latest = archive.state().generation();
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(fx.image)) {
      var set =
          Restorable.differing(
              archive, latest, ch, Files.size(fx.image), SyncFixture.G, Long.MAX_VALUE);
      java.util.Set<Integer> out = new java.util.TreeSet<>();
      set.toBitmap().forEach((int b) -> out.add(b));
      return out;
    }
  }

  /** Writes to the image file directly: a change made while it was not mounted. */
  private void writeUntracked(long offset, byte[] data) throws IOException {
    try (java.nio.channels.FileChannel ch =
        java.nio.channels.FileChannel.open(fx.image, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(data), offset);
    }
  }

  /**
   * An image grown while not mounted, with data far past the old end: every grown block differs
   * (only the block at the old end did, so the data past it never reached the archive and a compare
   * said "identical"; found by the hostile pass).
   */
  @Test
  void anImageGrownWhileNotMountedDiffersInEveryGrownBlock() throws IOException {
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    writeUntracked(26_000_000, SyncFixture.random(100, 3)); // the file grows to 26,000,100
    assertThat(differingBlocks()).contains(26_000_000 / 65536).contains(16, 17, 396);
  }

  /**
   * A generation that shrank the image and a later one that grew it again: what the shrink cut is
   * zeros in the archive, so bytes of the generation before it, written back while not mounted,
   * differ (they were compared with that older record and found the same).
   */
  @Test
  void bytesTheArchiveTruncatedAwayAreComparedWithZeros() throws IOException {
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    byte[] block12 = java.util.Arrays.copyOfRange(Files.readAllBytes(fx.image), 12 << 16, 13 << 16);
    long size = Files.size(fx.image);
    fx.tracked.beforeWrite(4 << 16, size - (4 << 16));
    try (java.nio.channels.FileChannel ch =
        java.nio.channels.FileChannel.open(fx.image, java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(4 << 16);
    }
    fx.tracked.afterWrite(4 << 16, size - (4 << 16));
    fx.tracked.noteSize(4 << 16);
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    fx.write(size - 10, new byte[10]); // grown back, through the tracking
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    assertThat(differingBlocks()).isEmpty();

    writeUntracked(12 << 16, block12);
    assertThat(differingBlocks()).containsExactly(12);
  }

  /**
   * A restore whose delta goes between its check and its apply (a gc's fold renamed over it, a
   * receiver gone) leaves no half-written OUT behind (found by the hostile pass).
   */
  @Test
  void aRestoreThatFailsPartWayLeavesNoImage() throws IOException {
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    fx.write(3 << 16, SyncFixture.random(5000, 8));
    long last = syncer.sync(fx.source(), archive, false, SyncProgress.NONE).generation();
    ArchiveFiles local = ArchiveFiles.in(tmp.resolve("archive"));
    String newest = ArchiveTarget.fileName(last);
    Path out = tmp.resolve("restored.img");
    int[] opens = {0};
    ArchiveFiles vanishing =
        new ArchiveFiles() {
          @Override
          public java.util.List<Listed> list() throws IOException {
            return local.list();
          }

          @Override
          public io.cbtfs.syncer.PositionalFile open(String name) throws IOException {
            if (name.equals(newest) && Files.exists(out)) { // checked; gone when applied
              opens[0]++;
              throw new java.nio.file.NoSuchFileException(name);
            }
            return local.open(name);
          }

          @Override
          public String where(String name) {
            return local.where(name);
          }
        };
    ArchiveReader reader = new ArchiveReader(vanishing, "archive:test", null);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> reader.restore(last, out, Restorable.RestoreProgress.NONE))
        .isInstanceOf(java.nio.file.NoSuchFileException.class);
    assertThat(opens[0]).as("the delta went while applied").isEqualTo(1);
    assertThat(out).doesNotExist();
  }
}
