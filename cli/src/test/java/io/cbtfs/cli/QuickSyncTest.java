package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The picocli-free path of a plain sync takes only that shape and behaves as picocli's does. */
class QuickSyncTest {
  @TempDir Path tmp;

  @Test
  void takesOnlyAPlainSync() {
    assertThat(QuickSync.parse(new String[] {"sync", "a.img", "file:b"}))
        .isEqualTo(new QuickSync.Plain(Path.of("a.img"), "file:b", false));
    assertThat(QuickSync.parse(new String[] {"sync", "--json", "a.img", "file:b"}).json()).isTrue();
    assertThat(QuickSync.parse(new String[] {"sync", "a.img", "file:b", "--json"}).json()).isTrue();
    String[][] others = {
      {"sync", "a.img"},
      {"sync", "a.img", "file:b", "c"},
      {"sync", "--full", "a.img", "file:b"},
      {"sync", "--json", "--json", "a.img", "file:b"},
      {"sync", "--state-dir=x", "a.img", "file:b"},
      {"sync", "-h", "a.img", "file:b"},
      {"sync", "--", "a.img", "file:b"},
      {"sync", "@args", "file:b"},
      {"sync", "", "file:b"},
      {"status", "a.img", "file:b"},
      {"verify", "a.img", "file:b"},
    };
    for (String[] a : others) {
      assertThat(QuickSync.parse(a)).as(String.join(" ", a)).isNull();
      assertThat(QuickSync.run(a, new PrintWriter(new StringWriter()), null)).isNull();
    }
  }

  private record Run(Integer exitCode, String out, String err) {}

  private static Run quick(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    Integer code = QuickSync.run(args, new PrintWriter(out), new PrintWriter(err));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void failsAsPicocliDoes() throws IOException {
    Path img = Files.write(tmp.resolve("disk.img"), new byte[100_000]);
    String[][] failing = {
      {"sync", tmp.resolve("missing.img").toString(), "file:" + tmp.resolve("r.img")},
      {"sync", img.toString(), "bogus:" + tmp.resolve("r.img")},
      {"sync", "--json", img.toString(), "file:" + tmp.resolve("no/such/dir/r.img")},
    };
    for (String[] args : failing) {
      Run q = quick(args);
      CliRun p = CliRun.of(args);
      assertThat(q.exitCode()).as(String.join(" ", args)).isEqualTo(p.exitCode()).isNotZero();
      assertThat(q.err()).isEqualTo(p.err()).startsWith("cbtfs sync: ");
      assertThat(q.out()).isEqualTo(p.out()).isEmpty();
    }
  }

  @Test
  void syncsAndReportsAsPicocliDoes() throws IOException {
    byte[] data = new byte[1 << 20];
    new Random(1).nextBytes(data);
    Path img = Files.write(tmp.resolve("disk.img"), data);
    Path replicaFile = Files.createDirectories(tmp.resolve("backup")).resolve("r.img");
    String replica = "file:" + replicaFile;
    Run first = quick("sync", "--json", img.toString(), replica);
    assertThat(first.exitCode()).isZero();
    assertThat(first.err()).isEmpty();
    assertThat(first.out())
        .startsWith("{\"target\":")
        .contains("\"generation\":1,\"full\":true,\"blocks\":16,\"dataBytes\":1048576");
    assertThat(Files.mismatch(img, replicaFile)).isEqualTo(-1L);
    CliRun second = CliRun.of("sync", img.toString(), replica);
    Run third = quick("sync", img.toString(), replica);
    for (String text : new String[] {second.out(), third.out()}) {
      assertThat(text).startsWith("synced " + img + " to " + replica + ": generation ");
      assertThat(text).contains("(incremental), 0 blocks");
    }
    assertThat(third.exitCode()).isEqualTo(second.exitCode()).isZero();
  }
}
