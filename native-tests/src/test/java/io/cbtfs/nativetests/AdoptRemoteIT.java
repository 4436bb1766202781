package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.OverlayMountIT.ok;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.nativetests.RestoreInPlace.Booted;
import io.cbtfs.s3.S3ProxyServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The restore in place of AdoptIT against the two other kinds of backup {@code adopt --from} takes:
 * an S3 store (S3Proxy on loopback) and a receiver's archive ({@code cbtfs://…?archive}). An image
 * synced there three times, its newest generation N booted with {@code --overlay --hydrate} and
 * written, adopted from that target: the first sync back is incremental from N, sends exactly the
 * blocks written over N, commits N+1, and N+1 restores to the adopted image.
 */
class AdoptRemoteIT {
  private static final int SIZE = 16 << 20;
  private static final int BLOCK = 64 << 10; // the tracking's default block
  private static final long[][] WRITES = { // {pattern, byte offset, byte length}
    {0xab, 100, 3000}, {0xcd, 10_000_000, 70_000}, {0xef, 12 << 20, BLOCK} // the second: 2 blocks
  };

  @TempDir Path tmp;

  @Test
  void anAdoptedOverlaySyncsToItsS3StoreOnlyWhatWasWrittenOverItsGeneration() throws Exception {
    try (S3ProxyServer server =
        S3ProxyServer.start(Files.createDirectory(tmp.resolve("s3")), "backups")) {
      adoptAndSyncBack(server.uri("backups/fleet/vm"), 1 << 20);
    }
  }

  @Test
  void anAdoptedOverlaySyncsToItsReceiversArchiveOnlyWhatWasWrittenOverItsGeneration()
      throws Exception {
    try (ReceiverProcess receiver =
        ReceiverProcess.init(Files.createDirectory(tmp.resolve("receiver")))) {
      receiver.start();
      adoptAndSyncBack(receiver.uri("vm") + "&archive", BLOCK);
    }
  }

  /**
   * @param granuleBytes what a sync to the target sends of a changed block: the block, or its whole
   *     cell of a grid
   */
  private void adoptAndSyncBack(String target, int granuleBytes) throws Exception {
    List<String> writes =
        Arrays.stream(WRITES)
            .map(w -> String.format("write -P 0x%x %d %d", w[0], w[1], w[2]))
            .toList();
    Booted b = RestoreInPlace.bootAndHydrate(tmp, target, SIZE, 5, 3, writes);
    long sent = writtenBlocks(granuleBytes);
    long generation;
    try (DaemonMount adopted = DaemonMount.prepare(Files.createDirectory(tmp.resolve("new")))) {
      assertThat(RestoreInPlace.adopt(b, adopted).output())
          .contains("generation " + b.generation())
          .doesNotContain("compares every block");
      adopted.mount();
      String sync = ok("sync", "--json", adopted.image("vm").toString(), target).output();
      assertThat(sync).as(sync).contains("\"full\":false");
      assertThat(number(sync, "base")).as(sync).isEqualTo(b.generation());
      assertThat(sync) // from the adopted history, not compared block by block
          .contains("\"why\":\"the blocks changed since the target's generation " + b.generation());
      generation = number(sync, "generation");
      assertThat(generation).as(sync).isGreaterThan(b.generation());
      assertThat(number(sync, "blocks")).as(sync).isEqualTo(sent);
      // those blocks and the framing; a full copy would send the 16 MiB
      assertThat(number(sync, "wireBytes")).as(sync).isBetween(1L, (sent + 1) * BLOCK);
    }
    RestoreInPlace.assertRestores(b, generation, tmp.resolve("restored.img"), b.expected());
    RestoreInPlace.assertRestores(b, null, tmp.resolve("newest.img"), b.expected());
    RestoreInPlace.assertRestores(b, b.generation(), tmp.resolve("restored-base.img"), b.base());
  }

  /** The 64 KiB blocks a sync sends for {@link #WRITES}: every block of each granule touched. */
  private static long writtenBlocks(int granuleBytes) {
    TreeSet<Long> granules = new TreeSet<>();
    for (long[] w : WRITES) {
      for (long i = w[1] / granuleBytes; i <= (w[1] + w[2] - 1) / granuleBytes; i++) {
        granules.add(i);
      }
    }
    return granules.size() * (long) (granuleBytes / BLOCK);
  }

  private static long number(String json, String field) {
    Matcher m = Pattern.compile("\"" + field + "\":(-?\\d+)").matcher(json);
    assertThat(m.find()).as("%s in %s", field, json).isTrue();
    return Long.parseLong(m.group(1));
  }
}
