package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A sync of big blocks (a record is one block at least) within the direct buffers a mount's default
 * --max-memory gives it (64 MiB): fewer records in flight, not more memory. Before, 2 MiB records,
 * 16 in flight and 8 borrowed, each with a compressed copy, took 104 MiB and the sync failed with
 * "Cannot reserve ... bytes of direct buffer memory".
 */
class BigBlocksDirectMemoryTest {
  @TempDir Path tmp;

  @ParameterizedTest(name = "{0}-byte blocks")
  @ValueSource(ints = {2 << 20, 4 << 20})
  void bigBlocksSyncWithinTheDefaultDirectBuffers(int blockSize) throws Exception {
    List<String> cmd =
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx256m",
            "-XX:MaxDirectMemorySize=64m",
            "-cp",
            System.getProperty("java.class.path"),
            SmallDirectSync.class.getName(),
            tmp.toString(),
            Integer.toString(blockSize),
            "96");
    Path log = tmp.resolve("child.log"); // a file, not a pipe: a hung child fails the wait
    Process p =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    boolean ended = p.waitFor(5, TimeUnit.MINUTES);
    p.destroyForcibly();
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(ended).as(out).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).contains("synced generation 1").doesNotContain("OutOfMemoryError");
    assertThat(Files.mismatch(tmp.resolve("replica.img"), tmp.resolve("disk.img"))).isEqualTo(-1L);
  }
}
