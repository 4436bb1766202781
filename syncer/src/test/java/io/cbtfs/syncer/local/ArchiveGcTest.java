package io.cbtfs.syncer.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.DeltaWriter;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link ArchiveGc}: every kept generation restores byte for byte after a gc, and after a gc
 * stopped before any of its file steps (a kill -9: what was not forced is lost).
 */
class ArchiveGcTest {
  @TempDir Path tmp;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);
  final EncryptionKey key = EncryptionKey.generate();

  /** The image as of each generation synced, by generation. */
  final TreeMap<Long, byte[]> images = new TreeMap<>();

  @AfterEach
  void close() throws IOException {
    if (fx != null) {
      fx.close();
    }
  }

  /**
   * {@code count} generations synced to {@code dir} from random writes, a grown image (3), a shrunk
   * one with zeros written (4) and a grown one again (5); generation {@code fullAt} (1-based) is
   * synced full, as {@code --full} does.
   */
  ArchiveTarget syncGenerations(Path dir, int count, boolean sealed, int fullAt)
      throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 4 << 20, 1);
    ArchiveTarget archive = new ArchiveTarget(dir, sealed ? key : null);
    Random rnd = new Random(7);
    for (int gen = 1; gen <= count; gen++) {
      if (gen == 3) {
        fx.write((5 << 20) + 4321, SyncFixture.random(70_000, rnd.nextLong()));
      } else if (gen == 4) {
        long newSize = (3 << 20) + 777;
        long old = Files.size(fx.image);
        fx.tracked.beforeWrite(newSize, old - newSize);
        try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
          ch.truncate(newSize);
        }
        fx.tracked.afterWrite(newSize, old - newSize);
        fx.write(1 << 20, new byte[200_000]);
      } else if (gen == 5) {
        fx.write((4 << 20) + 100, SyncFixture.random(5000, rnd.nextLong()));
      }
      if (gen > 1) {
        for (int w = 0; w < 4; w++) {
          fx.write(
              rnd.nextInt(3 << 20), SyncFixture.random(1 + rnd.nextInt(100_000), rnd.nextLong()));
        }
      }
      long g = syncer.sync(fx.source(), archive, gen == fullAt, SyncProgress.NONE).generation();
      images.put(g, Files.readAllBytes(fx.image));
    }
    return archive;
  }

  /** Restores every generation {@code archive} lists and compares it with the image it was. */
  List<Long> assertEveryListedGenerationRestores(ArchiveTarget archive) throws IOException {
    List<Long> listed = new ArrayList<>();
    for (Restorable.Generation g : archive.generations()) {
      Path out = tmp.resolve("restored-" + System.nanoTime());
      archive.restore(g.generation(), out, Restorable.RestoreProgress.NONE);
      assertThat(Files.readAllBytes(out))
          .as("generation %d restored", g.generation())
          .isEqualTo(images.get(g.generation()));
      Files.delete(out);
      listed.add(g.generation());
    }
    return listed;
  }

  static byte[] readWhole(StoredImage image) throws IOException {
    byte[] all = new byte[(int) image.imageSize()];
    image.read(0, all, all.length);
    return all;
  }

  List<Long> generations() {
    return new ArrayList<>(images.keySet());
  }

  @ParameterizedTest(name = "encrypted {0}")
  @ValueSource(booleans = {false, true})
  void everyKeptGenerationRestoresAsBeforeAndOlderOnesGo(boolean sealed) throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 7, sealed, 1);
    List<Long> gens = generations();
    long k = gens.get(4);
    Path kFile = dir.resolve(ArchiveTarget.fileName(k));
    FileTime created = Files.getLastModifiedTime(kFile);
    long sizeBefore = totalDeltaBytes(dir);

    ArchiveGc.Report r = new ArchiveGc(archive).run(3, false);

    assertThat(r.removedGenerations()).isEqualTo(4);
    assertThat(r.keptGenerations()).isEqualTo(3);
    assertThat(r.foldedGeneration()).isEqualTo(k);
    assertThat(assertEveryListedGenerationRestores(archive)).isEqualTo(gens.subList(4, 7));
    assertThat(archive.headers().get(k).full()).isTrue();
    assertThat(archive.headers().get(k).sealed()).isEqualTo(sealed);
    assertThat(Files.getLastModifiedTime(kFile)).isEqualTo(created);
    assertThat(coveredBytes(kFile, archive.recordKey()))
        .as("the fold's records cover the image end to end, as a full sync's do")
        .isEqualTo(images.get(k).length);
    assertThat(sizeBefore - totalDeltaBytes(dir)).isEqualTo(r.freedBytes());
    try (Stream<Path> s = Files.list(dir)) {
      assertThat(s.map(p -> p.getFileName().toString()))
          .doesNotContain(ArchiveGc.FOLD)
          .filteredOn(n -> n.endsWith(".cbtd"))
          .hasSize(3);
    }
    // the next sync continues the chain; a second gc folds the newest but one
    fx.write(12345, SyncFixture.random(9000, 3));
    long next = syncer.sync(fx.source(), archive, false, SyncProgress.NONE).generation();
    images.put(next, Files.readAllBytes(fx.image));
    assertThat(new ArchiveGc(archive).run(2, false).foldedGeneration()).isEqualTo(gens.get(6));
    assertThat(assertEveryListedGenerationRestores(archive)).containsExactly(gens.get(6), next);
    try (StoredImage image = archive.open(next, new PieceCache(1 << 20))) {
      assertThat(readWhole(image)).isEqualTo(images.get(next));
    }
  }

  /**
   * The fold takes the owner, group and mode of the file it replaces (a gc run by root left a
   * receiver's archive unreadable to the receiver's user, under root's umask; hostile pass).
   */
  @Test
  void theFoldKeepsTheOwnerAndModeOfTheFileItReplaces() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 4, false, 1);
    Path kFile = dir.resolve(ArchiveTarget.fileName(generations().get(2)));
    java.util.Set<java.nio.file.attribute.PosixFilePermission> mode =
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r-----");
    Files.setPosixFilePermissions(kFile, mode);
    boolean root = "root".equals(System.getProperty("user.name"));
    java.nio.file.attribute.UserPrincipal nobody = null;
    if (root) {
      nobody =
          kFile.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
      Files.setOwner(kFile, nobody);
    }

    assertThat(new ArchiveGc(archive).run(2, false).foldedGeneration())
        .isEqualTo(generations().get(2));

    assertThat(Files.getPosixFilePermissions(kFile)).isEqualTo(mode);
    if (root) {
      assertThat(Files.getOwner(kFile)).isEqualTo(nobody);
    }
    assertEveryListedGenerationRestores(archive);
  }

  /**
   * How far {@code delta}'s records cover the image from byte 0 without a gap (data and zero
   * records alike): a full delta laid over anything then leaves nothing of what was there.
   */
  static long coveredBytes(Path delta, EncryptionKey key) throws IOException {
    long[] end = {0};
    DeltaReader.read(
        delta,
        (kind, offset, data, length) -> {
          if (offset == end[0]) {
            end[0] += length;
          }
        },
        key);
    return end[0];
  }

  static long totalDeltaBytes(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      long total = 0;
      for (Path p : s.filter(p -> p.toString().endsWith(".cbtd")).toList()) {
        total += Files.size(p);
      }
      return total;
    }
  }

  @Test
  void keepingTheNewestAloneFoldsItAndKeepingAllChangesNothing() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 5, false, 1);
    Map<Path, byte[]> before = files(dir);
    assertThat(new ArchiveGc(archive).run(5, false))
        .isEqualTo(new ArchiveGc.Report(0, 5, 0, -1, 0, 0));
    assertThat(files(dir).keySet()).containsExactlyElementsOf(before.keySet());
    ArchiveGc.Report r = new ArchiveGc(archive).run(1, false);
    assertThat(r.removedGenerations()).isEqualTo(4);
    assertThat(assertEveryListedGenerationRestores(archive)).containsExactly(images.lastKey());
  }

  @Test
  void aFullOldestKeptGenerationIsNotRewritten() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 6, false, 4);
    long k = generations().get(3);
    byte[] kBytes = Files.readAllBytes(dir.resolve(ArchiveTarget.fileName(k)));
    ArchiveGc.Report r = new ArchiveGc(archive).run(3, false);
    assertThat(r.foldedGeneration()).isEqualTo(-1);
    assertThat(r.removedGenerations()).isEqualTo(3);
    assertThat(Files.readAllBytes(dir.resolve(ArchiveTarget.fileName(k)))).isEqualTo(kBytes);
    assertThat(assertEveryListedGenerationRestores(archive)).isEqualTo(generations().subList(3, 6));
  }

  @Test
  void aDryRunSaysWhatWouldGoAndChangesNothingAndTheNextGcRemovesAKilledOnesFold()
      throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 5, false, 1);
    Files.write(dir.resolve(ArchiveGc.FOLD), SyncFixture.random(5000, 9)); // a killed gc's
    assertThat(archive.generations()).hasSize(5);
    Map<Path, byte[]> before = files(dir);
    ArchiveGc.Report dry = new ArchiveGc(archive).run(2, true);
    assertThat(files(dir).keySet()).containsExactlyElementsOf(before.keySet());
    for (var e : before.entrySet()) {
      assertThat(files(dir).get(e.getKey())).as("%s", e.getKey()).isEqualTo(e.getValue());
    }
    ArchiveGc.Report real = new ArchiveGc(archive).run(2, false);
    assertThat(dir.resolve(ArchiveGc.FOLD)).doesNotExist();
    assertThat(dry.removedGenerations()).isEqualTo(real.removedGenerations()).isEqualTo(3);
    assertThat(dry.removedBytes()).isEqualTo(real.removedBytes());
    assertThat(dry.foldedGeneration()).isEqualTo(real.foldedGeneration());
    assertThat(dry.foldedBytesAfter()).isZero();
  }

  @Test
  void aSealedChainIsRefusedWithoutItsKeyOrWithAnotherAndNothingChanges() throws IOException {
    Path dir = tmp.resolve("archive");
    syncGenerations(dir, 4, true, 1);
    Map<Path, byte[]> before = files(dir);
    String id = key.fingerprint().substring(0, 8);
    assertThatThrownBy(() -> new ArchiveGc(new ArchiveTarget(dir)).run(2, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("is encrypted (key " + id)
        .hasMessageContaining("--encrypt-key");
    assertThatThrownBy(
            () -> new ArchiveGc(new ArchiveTarget(dir, EncryptionKey.generate())).run(2, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("not with the given key");
    assertThatThrownBy(() -> new ArchiveGc(new ArchiveTarget(dir)).run(2, true))
        .isInstanceOf(CbtfsException.class);
    assertThat(files(dir).keySet()).isEqualTo(before.keySet());
    for (var e : before.entrySet()) {
      assertThat(files(dir).get(e.getKey())).isEqualTo(e.getValue());
    }
  }

  @Test
  void aDamagedRecordInTheChainFailsTheGcNamingTheDeltaAndChangesNothing() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 4, false, 1);
    Path base = dir.resolve(ArchiveTarget.fileName(generations().get(0)));
    try (FileChannel ch =
        FileChannel.open(base, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long at = ch.size() / 2; // inside a record's payload of the full base
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
      ch.read(b, at);
      b.put(0, (byte) (b.get(0) ^ 0x5a)).rewind();
      ch.write(b, at);
    }
    Map<Path, byte[]> before = files(dir);
    assertThatThrownBy(() -> new ArchiveGc(archive).run(2, false))
        .isInstanceOf(io.cbtfs.syncer.CorruptDeltaException.class)
        .hasMessageContaining(base.toString());
    assertThat(files(dir).keySet()).containsExactlyElementsOf(before.keySet());
    for (var e : before.entrySet()) {
      assertThat(files(dir).get(e.getKey())).as("%s", e.getKey()).isEqualTo(e.getValue());
    }
  }

  /**
   * The fold meets a full disk (its writes go to /dev/full): the error names the fold's file, not a
   * bare "No space left on device", and the archive is as it was, the fold removed.
   */
  @Test
  void aFullDiskFailsTheGcNamingTheFoldAndChangesNothing() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 4, false, 1);
    Map<Path, byte[]> before = files(dir);
    GcSteps fullDisk =
        new ForwardingSteps(GcSteps.REAL) {
          @Override
          public FileChannel create(Path file) throws IOException {
            super.create(file).close(); // the fold is made, as on a real disk
            return FileChannel.open(Path.of("/dev/full"), StandardOpenOption.WRITE);
          }
        };
    assertThatThrownBy(() -> new ArchiveGc(archive, fullDisk).run(2, false))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("cannot write " + dir.resolve(ArchiveGc.FOLD))
        .hasMessageContaining("No space left on device")
        .hasMessageContaining("the archive was not changed");
    assertThat(files(dir)).containsOnlyKeys(before.keySet());
    assertThat(dir.resolve(ArchiveGc.FOLD)).doesNotExist();
    assertThat(assertEveryListedGenerationRestores(archive)).isEqualTo(generations());
  }

  /**
   * A kept generation built on one before the oldest kept without passing through it (no sync
   * writes that; a hand-made file may): the fold of the oldest would not free it, so nothing goes.
   */
  @Test
  void aKeptGenerationThatSkipsTheOldestKeptIsRefusedAndNothingChanges() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 4, false, 1);
    List<Long> gens = generations();
    long skipping = gens.get(3) + 1;
    DeltaHeader last = archive.headers().get(gens.get(3));
    DeltaHeader h =
        new DeltaHeader(
            last.lineage(), last.imageSize(), last.blockSize(), gens.get(1), skipping, false);
    try (var out = Files.newOutputStream(dir.resolve(ArchiveTarget.fileName(skipping)))) {
      DeltaWriter w = new DeltaWriter(out, h);
      w.write(new io.cbtfs.syncer.RecordCodec().zero(0, 4096));
      w.finish();
    }
    SidecarMeta.write(dir.resolve(ArchiveFiles.META), io.cbtfs.syncer.TargetState.of(h));
    Map<Path, byte[]> before = files(dir);
    assertThatThrownBy(() -> new ArchiveGc(archive).run(2, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("generation " + skipping + " is built on generation " + gens.get(0))
        .hasMessageContaining("without passing through " + gens.get(3));
    assertThat(files(dir).keySet()).containsExactlyElementsOf(before.keySet());
  }

  @Test
  void keepBelowOneIsAUsageErrorAndAFolderWithoutArchiveIsRefused() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 2, false, 1);
    assertThatThrownBy(() -> new ArchiveGc(archive).run(0, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--keep");
    assertThat(archive.generations()).hasSize(2);
    assertThatThrownBy(() -> new ArchiveGc(new ArchiveTarget(tmp.resolve("none"))).run(1, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("holds no archive");
  }

  @Test
  void aRunningSyncRefusesTheGcAndARunningGcRefusesASync() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 3, false, 1);
    try (TargetLock sync = TargetLock.tryAcquire(dir.resolve(ArchiveTarget.SYNC_LOCK))) {
      assertThat(sync).isNotNull();
      assertThatThrownBy(() -> new ArchiveGc(archive).run(1, false))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("is running");
      assertThat(archive.generations()).hasSize(3);
    }
    // a gc held at its first step: a sync meanwhile is refused
    List<Throwable> refused = new ArrayList<>();
    GcSteps syncingMeanwhile =
        new ForwardingSteps(GcSteps.REAL) {
          @Override
          void before(String step, Path file) {
            if (refused.isEmpty()) {
              try {
                fx.write(0, SyncFixture.random(100, 1));
                syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
              } catch (IOException | RuntimeException e) {
                refused.add(e);
              }
            }
          }
        };
    new ArchiveGc(archive, syncingMeanwhile).run(1, false);
    assertThat(refused).singleElement().asString().contains("or a gc of it");
  }

  @Test
  void aGenerationOpenedBeforeTheGcReadsRightAfterItAndARemovedOneIsNamed() throws IOException {
    Path dir = tmp.resolve("archive");
    ArchiveTarget archive = syncGenerations(dir, 5, false, 1);
    List<Long> gens = generations();
    PieceCache cache = new PieceCache(0); // every read goes to the files
    try (StoredImage removed = archive.open(gens.get(1), cache);
        StoredImage kept = archive.open(gens.get(4), cache)) {
      new ArchiveGc(archive).run(2, false);
      assertThat(readWhole(removed)).isEqualTo(images.get(gens.get(1)));
      assertThat(readWhole(kept)).isEqualTo(images.get(gens.get(4)));
    }
    assertThatThrownBy(() -> archive.open(gens.get(1), cache))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("has no generation " + gens.get(1))
        .hasMessageContaining("a gc may have removed it");
  }

  /**
   * A gc stopped before each of its file steps in turn, its unforced files then losing their tail
   * (what a crash does to them): every generation the archive lists still restores, and the next gc
   * completes.
   */
  @ParameterizedTest(name = "encrypted {0}")
  @ValueSource(booleans = {false, true})
  void aGcStoppedBeforeAnyStepLeavesEveryListedGenerationRestorable(boolean sealed)
      throws IOException {
    Path template = tmp.resolve("template");
    syncGenerations(template, 6, sealed, 1);
    for (int stopAt = 0; ; stopAt++) {
      Path dir = tmp.resolve("archive-" + stopAt);
      copyFolder(template, dir);
      ArchiveTarget archive = new ArchiveTarget(dir, sealed ? key : null);
      CrashingSteps crashing = new CrashingSteps(stopAt);
      try {
        new ArchiveGc(archive, crashing).run(2, false);
        assertThat(crashing.steps).hasSize(stopAt).hasSizeGreaterThan(5);
        break;
      } catch (Crash stopped) {
        crashing.loseWhatWasNotForced();
      }
      List<Long> listed = assertEveryListedGenerationRestores(archive);
      assertThat(listed).as("stopped at step %d", stopAt).containsAll(generations().subList(4, 6));
      new ArchiveGc(archive).run(2, false);
      assertThat(assertEveryListedGenerationRestores(archive))
          .isEqualTo(generations().subList(4, 6));
      assertThat(dir.resolve(ArchiveGc.FOLD)).doesNotExist();
    }
  }

  /** Stands for a kill -9: nothing after it runs, nothing catches it (an Error, not an I/O one). */
  static final class Crash extends Error {
    Crash(String step) {
      super("stopped before " + step);
    }
  }

  /** Steps that pass to another, with a look before each. */
  static class ForwardingSteps implements GcSteps {
    private final GcSteps real;

    ForwardingSteps(GcSteps real) {
      this.real = real;
    }

    void before(String step, Path file) {}

    @Override
    public FileChannel create(Path file) throws IOException {
      before("create", file);
      return real.create(file);
    }

    @Override
    public void force(FileChannel channel, Path file) throws IOException {
      before("force", file);
      real.force(channel, file);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
      before("rename", from);
      real.rename(from, to);
    }

    @Override
    public void delete(Path file) throws IOException {
      before("delete", file);
      real.delete(file);
    }

    @Override
    public void fsyncDirectory(Path dir) throws IOException {
      before("fsync", dir);
      real.fsyncDirectory(dir);
    }
  }

  /**
   * Stops before step {@code stopAt} (0-based), and knows which created files were not forced:
   * under their current names, after renames.
   */
  static final class CrashingSteps extends ForwardingSteps {
    final int stopAt;
    final List<String> steps = new ArrayList<>();
    final Map<FileChannel, Path> unforced = new IdentityHashMap<>();

    CrashingSteps(int stopAt) {
      super(GcSteps.REAL);
      this.stopAt = stopAt;
    }

    @Override
    void before(String step, Path file) {
      if (steps.size() == stopAt) {
        throw new Crash(step + " " + file.getFileName());
      }
      steps.add(step + " " + file.getFileName());
    }

    @Override
    public FileChannel create(Path file) throws IOException {
      FileChannel ch = super.create(file);
      unforced.put(ch, file);
      return ch;
    }

    @Override
    public void force(FileChannel channel, Path file) throws IOException {
      super.force(channel, file);
      unforced.remove(channel);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
      super.rename(from, to);
      unforced.replaceAll((ch, p) -> p.equals(from) ? to : p);
    }

    /** Cuts each file written but not forced to half its length. */
    void loseWhatWasNotForced() throws IOException {
      for (Path p : unforced.values()) {
        if (Files.exists(p)) {
          try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
          }
        }
      }
    }
  }

  static void copyFolder(Path from, Path to) throws IOException {
    Files.createDirectory(to);
    try (Stream<Path> s = Files.list(from)) {
      for (Path p : s.toList()) {
        Path copy = to.resolve(p.getFileName());
        Files.copy(p, copy);
        Files.setLastModifiedTime(copy, Files.getLastModifiedTime(p));
      }
    }
  }

  static Map<Path, byte[]> files(Path dir) throws IOException {
    Map<Path, byte[]> out = new TreeMap<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        out.put(p, Files.readAllBytes(p));
      }
    }
    return out;
  }
}
