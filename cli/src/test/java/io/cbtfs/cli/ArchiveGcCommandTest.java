package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.Allocation;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.Restorable;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs gc archive:DIR}: the kept generations of a sparse image's archive restore as they
 * did before, as sparse; the usage errors and the key's refusal are one line each.
 */
class ArchiveGcCommandTest {
  private static final long SIZE = 64L << 20;

  @TempDir Path tmp;

  /** A sparse image, synced {@code count} times with a few MiB written before each. */
  Path syncGenerations(int count, String... keyArgs) throws Exception {
    Path image = tmp.resolve("disk.img");
    Allocation.sparseFile(image, SIZE);
    Path archive = tmp.resolve("disk.archive");
    Random rnd = new Random(11);
    for (int i = 0; i < count; i++) {
      try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
        byte[] data = new byte[1 << 20];
        rnd.nextBytes(data);
        f.seek((long) rnd.nextInt(60) << 20);
        f.write(data);
        f.seek(rnd.nextInt((int) SIZE - 8192));
        f.write(new byte[8192]); // zeros over what may have been data
      }
      List<String> args = new ArrayList<>(List.of("sync", image.toString(), "archive:" + archive));
      args.addAll(List.of(keyArgs));
      CliRun r = CliRun.of(args.toArray(String[]::new));
      assertThat(r.exitCode()).as(r.err()).isZero();
    }
    return archive;
  }

  /** Each generation listed, restored before anything changes: generation to restored file. */
  Map<Long, Path> restoreAll(Path archive, String tag, String... keyArgs) throws Exception {
    Map<Long, Path> out = new TreeMap<>();
    for (Restorable.Generation g : new ArchiveTarget(archive).generations()) {
      Path file = tmp.resolve(tag + "-" + g.generation() + ".img");
      List<String> args =
          new ArrayList<>(
              List.of(
                  "restore",
                  "--generation",
                  Long.toString(g.generation()),
                  "archive:" + archive,
                  file.toString()));
      args.addAll(List.of(keyArgs));
      CliRun r = CliRun.of(args.toArray(String[]::new));
      assertThat(r.exitCode()).as(r.err()).isZero();
      out.put(g.generation(), file);
    }
    return out;
  }

  @Test
  void theKeptGenerationsRestoreAsBeforeAndStaySparse() throws Exception {
    Path archive = syncGenerations(5);
    Map<Long, Path> before = restoreAll(archive, "before");
    List<Long> gens = new ArrayList<>(before.keySet());
    Map<Path, Long> filesBefore = sizes(archive);

    CliRun dry = CliRun.of("gc", "archive:" + archive, "--keep", "2", "--dry-run");
    assertThat(dry.exitCode()).as(dry.err()).isZero();
    assertThat(dry.out())
        .startsWith("dry run, nothing removed: archive:" + archive + ": 3 generations removed (")
        .contains("2 kept; generation " + gens.get(3) + " folded into a full delta (");
    assertThat(sizes(archive)).isEqualTo(filesBefore);

    CliRun gc = CliRun.of("gc", "archive:" + archive, "--keep", "2");
    assertThat(gc.exitCode()).as(gc.err()).isZero();
    assertThat(gc.out().lines()).singleElement().asString().contains("3 generations removed (");
    assertThat(gc.out()).contains(" freed");

    Map<Long, Path> after = restoreAll(archive, "after");
    assertThat(after.keySet()).containsExactlyElementsOf(gens.subList(3, 5));
    for (long g : after.keySet()) {
      assertThat(Files.mismatch(after.get(g), before.get(g))).as("generation %d", g).isEqualTo(-1);
      assertThat(Allocation.allocatedBytes(after.get(g)))
          .as("du of generation %d", g)
          .isLessThanOrEqualTo(Allocation.allocatedBytes(before.get(g)) + (1 << 20));
    }
    // the full delta holds the data, not the holes
    Path folded = archive.resolve(String.format("gen-%08d.cbtd", gens.get(3)));
    assertThat(Files.size(folded)).isLessThan(SIZE / 4);
    CliRun gone =
        CliRun.of(
            "restore",
            "--generation",
            gens.get(0).toString(),
            "archive:" + archive,
            tmp.resolve("gone.img").toString());
    assertThat(gone.exitCode()).isEqualTo(1);
    assertThat(gone.err()).contains("has no generation " + gens.get(0));
  }

  @Test
  void anEncryptedArchiveNeedsItsKey() throws Exception {
    Path key = tmp.resolve("k");
    assertThat(CliRun.of("key", "create", key.toString()).exitCode()).isZero();
    Path archive = syncGenerations(3, "--encrypt-key", key.toString());
    Map<Long, Path> before = restoreAll(archive, "before", "--encrypt-key", key.toString());
    Map<Path, Long> filesBefore = sizes(archive);

    CliRun refused = CliRun.of("gc", "archive:" + archive, "--keep", "1");
    assertThat(refused.exitCode()).isEqualTo(1);
    assertThat(refused.err().lines()).singleElement().asString().contains("--encrypt-key");
    assertThat(sizes(archive)).isEqualTo(filesBefore);

    CliRun gc =
        CliRun.of("gc", "archive:" + archive, "--keep", "1", "--encrypt-key", key.toString());
    assertThat(gc.exitCode()).as(gc.err()).isZero();
    Map<Long, Path> after = restoreAll(archive, "after", "--encrypt-key", key.toString());
    long newest = ((TreeMap<Long, Path>) before).lastKey();
    assertThat(after.keySet()).containsExactly(newest);
    assertThat(Files.mismatch(after.get(newest), before.get(newest))).isEqualTo(-1);
  }

  @Test
  void usageErrorsChangeNothing() throws Exception {
    Path archive = syncGenerations(2);
    Map<Path, Long> filesBefore = sizes(archive);
    String[][] wrong = {
      {"gc", "archive:" + archive, "--keep", "0"},
      {"gc", "archive:" + archive, "--keep", "1", "--grace", "1h"},
      {"gc", "archive:" + archive, "--keep", "1", "--s3-endpoint", "http://127.0.0.1:9"},
    };
    for (String[] args : wrong) {
      CliRun r = CliRun.of(args);
      assertThat(r.exitCode()).as(r.err()).isEqualTo(CbtfsCommand.EXIT_USAGE);
      assertThat(r.err().lines()).hasSize(1);
    }
    assertThat(CliRun.of(wrong[0]).err()).contains("--keep must be at least 1");
    assertThat(CliRun.of(wrong[1]).err()).contains("--grace is for s3:// stores");
    assertThat(sizes(archive)).isEqualTo(filesBefore);
  }

  /** Another kind of target, or a --keep that is no number: one line each, saying what gc takes. */
  @Test
  void anotherTargetKindOrAKeepThatIsNoNumberIsOneLine() {
    CliRun file = CliRun.of("gc", "file:" + tmp.resolve("replica.img"), "--keep", "1");
    assertThat(file.exitCode()).as(file.err()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(file.err().lines())
        .singleElement()
        .asString()
        .contains("gc takes an s3://BUCKET/[STORE] store or an archive:DIR, not 'file:")
        .doesNotContain("not an s3:// URI");
    CliRun abc = CliRun.of("gc", "archive:" + tmp, "--keep", "abc");
    assertThat(abc.exitCode()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(abc.err().lines())
        .as("the line, not the whole usage after it")
        .singleElement()
        .asString()
        .startsWith("cbtfs gc: Invalid value for option '--keep': 'abc' is not an int")
        .endsWith("; see 'cbtfs gc --help'");
  }

  /**
   * A folder whose name's bytes are not UTF-8 reaches Java as U+FFFD, the name of another folder:
   * said as such, not as "holds no archive" (the real bytes: ArchiveGcIT).
   */
  @Test
  void anArchiveWhoseNameIsNotUtf8IsSaidToBeUnreadable() {
    String archive = "archive:" + tmp.resolve("vm\uFFFD.archive");
    CliRun r = CliRun.of("gc", archive, "--keep", "1");
    assertThat(r.exitCode()).as(r.err()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(r.err().lines())
        .singleElement()
        .asString()
        .contains("holds bytes that are not valid")
        .contains("cannot name that path")
        .doesNotContain("holds no archive");
  }

  /** A control character in the archive's name stays escaped: the summary is one line. */
  @Test
  void theSummaryOfAnArchiveWithAControlCharacterInItsNameIsOneLine() throws Exception {
    Path image = tmp.resolve("disk.img");
    Files.write(image, new byte[1 << 20]);
    Path archive = tmp.resolve("vm\n1.archive");
    for (int i = 0; i < 2; i++) {
      try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
        f.seek(i * 65536L);
        f.write(new byte[] {1, 2, 3});
      }
      CliRun sync = CliRun.of("sync", image.toString(), "archive:" + archive);
      assertThat(sync.exitCode()).as(sync.err()).isZero();
    }
    CliRun gc = CliRun.of("gc", "archive:" + archive, "--keep", "1");
    assertThat(gc.exitCode()).as(gc.err()).isZero();
    assertThat(gc.out().lines())
        .singleElement()
        .asString()
        .startsWith("archive:" + tmp.resolve("vm\\n1.archive") + ": 1 generations removed");
  }

  static Map<Path, Long> sizes(Path dir) throws Exception {
    Map<Path, Long> out = new TreeMap<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.toList()) {
        out.put(p, Files.size(p));
      }
    }
    return out;
  }
}
