package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.FuseTransport;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel's writeback cache (--writeback-cache) acknowledges a write while its pages are still
 * dirty in the kernel. The guarantee: every write acknowledged before 'cbtfs sync' starts is in
 * that sync.
 */
class WritebackCacheIT {
  private static final int MIB = 1 << 20;

  @TempDir Path tmp;

  @Test
  void everyWriteAcknowledgedBeforeASyncStartsIsInThatSync() throws Exception {
    assumeKernelTransport();
    try (DaemonMount m = DaemonMount.prepare(tmp)) {
      Files.write(m.backingFile("vm.img"), new byte[4 * MIB]);
      m.mount("--transport=kernel", "--writeback-cache");
      Path image = m.image("vm.img");
      Path replica = tmp.resolve("replica.img");
      assertThat(Cbtfs.run("sync", image.toString(), "file:" + replica).exitCode()).isZero();

      byte[] expected = new byte[4 * MIB];
      Random rnd = new Random(22);
      // The sync's process starts before the writer opens the image and waits for a line: a child
      // started while the image is open would inherit its descriptor, and closing that flushes
      // the image's dirty pages (FUSE flushes on every close), which would hide a missing flush.
      List<String> command = Tools.list("sh", "-c", "read go && exec \"$0\" \"$@\"");
      command.addAll(Cbtfs.command("sync", image.toString(), "file:" + replica));
      Process sync = new ProcessBuilder(command).redirectErrorStream(true).start();
      try (FileChannel writer = FileChannel.open(image, StandardOpenOption.WRITE)) {
        writeRandom(writer, new long[] {0, MIB + 4096, 3 * MIB - 100}, 8192, rnd, expected);
        try (OutputStream go = sync.getOutputStream()) {
          go.write('\n');
        }
        String output = new String(sync.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(sync.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(sync.exitValue()).as(output).isZero();
        byte[] got = Files.readAllBytes(replica);
        assertThat(Arrays.equals(got, expected))
            .as("the replica holds every write acknowledged before the sync")
            .isTrue();
      } finally {
        sync.destroyForcibly();
      }
    }
  }

  /**
   * Issue #22: a stop (SIGTERM) refuses changes, but pages the kernel already acknowledged to their
   * writer are no change to refuse: the mount writes them back first, and lets later writeback
   * through, so the image keeps every acknowledged write and the tracking knows each block.
   */
  @Test
  void aStopKeepsEveryWriteTheKernelAcknowledged() throws Exception {
    assumeKernelTransport();
    try (DaemonMount m = DaemonMount.prepare(tmp)) {
      Files.write(m.backingFile("vm.img"), new byte[4 * MIB]);
      ProcessHandle daemon = m.mount("--transport=kernel", "--writeback-cache");
      byte[] expected = new byte[4 * MIB];
      Random rnd = new Random(2222);
      try (FileChannel writer = FileChannel.open(m.image("vm.img"), StandardOpenOption.WRITE)) {
        writeRandom(writer, new long[] {0, MIB + 65536, 3 * MIB}, 65536, rnd, expected);
        assertThat(Arrays.equals(Files.readAllBytes(m.backingFile("vm.img")), expected))
            .as("still only in the kernel's cache")
            .isFalse();
        // SIGTERM without starting a process: a child would inherit the open image, and its
        // closing that flushes the dirty pages before the stop (FUSE flushes on every close)
        assertThat(daemon.destroy()).isTrue();
        awaitLogLine(m.backingFile(".cbtfs/mount.log"), "are refused from now on");
      } // the close flushes what is left: it must not be refused either
      daemon.onExit().get(60, TimeUnit.SECONDS);
      assertThat(Arrays.equals(Files.readAllBytes(m.backingFile("vm.img")), expected))
          .as("the image holds every write its writer saw succeed")
          .isTrue();
      Tools.Result status = Cbtfs.run("status", "--json", m.backingFile("vm.img").toString());
      assertThat(status.output())
          .as(status.output())
          .contains("\"dirtyBlocks\":3", "\"clean\":true");
    }
  }

  private static void assumeKernelTransport() {
    Assumptions.assumeTrue(
        MountedFolder.transport() != FuseTransport.LIBFUSE2,
        "the writeback cache is the kernel transport's");
  }

  /**
   * Writes {@code length} random bytes at each of {@code offsets}, acknowledged into the kernel's
   * cache, and the same into {@code expected}.
   */
  private static void writeRandom(
      FileChannel writer, long[] offsets, int length, Random rnd, byte[] expected)
      throws java.io.IOException {
    for (long at : offsets) {
      byte[] data = new byte[length];
      rnd.nextBytes(data);
      ByteBuffer buf = ByteBuffer.wrap(data);
      while (buf.hasRemaining()) {
        writer.write(buf, at + buf.position());
      }
      System.arraycopy(data, 0, expected, (int) at, data.length);
    }
  }

  /** Waits (polling, with a deadline) until the mount's log has a line containing {@code text}. */
  private static void awaitLogLine(Path log, String text) throws java.io.IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.readString(log).contains(text)) {
      assertThat(System.nanoTime()).as("log line '%s' within 30 s", text).isLessThan(deadline);
      LockSupport.parkNanos(20_000_000);
    }
  }
}
