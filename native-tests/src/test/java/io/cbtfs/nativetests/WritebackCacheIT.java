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
    Assumptions.assumeTrue(
        MountedFolder.transport() != FuseTransport.LIBFUSE2,
        "the writeback cache is the kernel transport's");
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
        for (long at : new long[] {0, MIB + 4096, 3 * MIB - 100}) {
          byte[] data = new byte[8192];
          rnd.nextBytes(data);
          ByteBuffer buf = ByteBuffer.wrap(data);
          while (buf.hasRemaining()) {
            writer.write(buf, at + buf.position()); // acknowledged: in the kernel's cache
          }
          System.arraycopy(data, 0, expected, (int) at, data.length);
        }
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
}
