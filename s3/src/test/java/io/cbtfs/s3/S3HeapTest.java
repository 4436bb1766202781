package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A sync of 2 MiB blocks to S3 in a JVM whose heap is as small as a mount's (its --max-memory is
 * four times it): the uploads fit the heap by keeping fewer chunks in flight. Before, 16 chunks of
 * 2 MiB and each upload thread's compressed copy took 64 MiB and the sync ran out of heap.
 */
class S3HeapTest extends S3ServerTest {
  @Test
  void twoMiBBlocksSyncInASmallHeap() throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("big"));
    List<String> cmd =
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx48m",
            "-XX:MaxDirectMemorySize=256m", // the syncer's own buffers are not what is tested
            "-XX:+UseSerialGC",
            "-cp",
            System.getProperty("java.class.path"),
            SmallHeapSync.class.getName(),
            server.uri(bucket + "/fleet/big"),
            dir.toString(),
            Integer.toString(2 << 20),
            "64");
    Path log = tmp.resolve("child.log"); // a file, not a pipe: a hung child fails the wait
    Process p =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    boolean ended = p.waitFor(5, TimeUnit.MINUTES);
    p.destroyForcibly();
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(ended).as(out).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).contains("synced generation 1").doesNotContain("OutOfMemoryError");
    assertThat(objects("fleet/chunks")).isEqualTo(32); // 64 MiB in 2 MiB cells, each different
    restoresAsTheImage(dir);
  }

  private void restoresAsTheImage(Path dir) throws IOException {
    S3Target t =
        (S3Target) io.cbtfs.syncer.local.Targets.parse(server.uri(bucket + "/fleet/big"), tmp);
    Path out = tmp.resolve("restored");
    t.restore(1, out, io.cbtfs.syncer.local.Restorable.RestoreProgress.NONE);
    assertThat(Files.mismatch(out, dir.resolve("disk.img"))).isEqualTo(-1L);
  }
}
