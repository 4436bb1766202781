package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #22: a daemon mount runs in a JVM held to its --max-memory, and the smallest budget it
 * takes still syncs an image whose every block is data that compresses a little (1 MiB runs, each
 * with a read buffer and a compressed copy: the most direct buffers a sync holds).
 */
class MemoryBudgetIT {
  @TempDir Path tmp;
  DaemonMount folder;

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  @Test
  void theSmallestBudgetHoldsTheDaemonAndStillSyncsDenseData() throws IOException {
    folder = DaemonMount.prepare(tmp);
    byte[] data = new byte[48 << 20];
    new Random(22).nextBytes(data);
    for (int i = 0; i < data.length; i += 4096) { // an eighth of each block zero: LZ4 keeps ~7/8
      java.util.Arrays.fill(data, i, i + 512, (byte) 0);
    }
    Files.write(folder.backingFile("vm.img"), data);
    ProcessHandle daemon = folder.mount("--max-memory", "228M");

    List<String> cmdline =
        List.of(Files.readString(Path.of("/proc/" + daemon.pid() + "/cmdline")).split("\0"));
    assertThat(cmdline)
        .contains("-Xmx57m", "-XX:MaxDirectMemorySize=57m", "-XX:+UseSerialGC")
        .contains("--max-memory=228M");
    assertThat(Files.readString(Path.of("/proc/" + daemon.pid() + "/environ")).split("\0"))
        .contains("MALLOC_MMAP_THRESHOLD_=131072", "MALLOC_ARENA_MAX=2");

    Path replica = tmp.resolve("replica.img");
    Tools.Result sync = Cbtfs.run("sync", folder.image("vm.img").toString(), "file:" + replica);
    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(Files.mismatch(replica, folder.backingFile("vm.img"))).isEqualTo(-1);
  }

  /** More syncs at once than the direct buffers hold wait their turn instead of failing. */
  @Test
  void syncsBeyondTheBudgetWaitTheirTurn() throws Exception {
    folder = DaemonMount.prepare(tmp);
    int images = 6;
    Random random = new Random(23);
    for (int i = 0; i < images; i++) {
      byte[] data = new byte[64 << 20];
      random.nextBytes(data);
      Files.write(folder.backingFile("vm" + i + ".img"), data);
    }
    folder.mount("--max-memory", "228M"); // 57 MiB of direct buffers: one sync at a time
    List<java.util.concurrent.CompletableFuture<Tools.Result>> syncs = new java.util.ArrayList<>();
    for (int i = 0; i < images; i++) {
      String image = folder.image("vm" + i + ".img").toString();
      String target = "file:" + tmp.resolve("replica" + i + ".img");
      syncs.add(
          java.util.concurrent.CompletableFuture.supplyAsync(
              () -> Cbtfs.run("sync", image, target)));
    }
    for (int i = 0; i < images; i++) {
      Tools.Result r = syncs.get(i).get();
      assertThat(r.exitCode()).as(r.output()).isZero();
      assertThat(
              Files.mismatch(
                  tmp.resolve("replica" + i + ".img"), folder.backingFile("vm" + i + ".img")))
          .isEqualTo(-1);
    }
  }
}
