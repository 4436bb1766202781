package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.Allocation;
import io.cbtfs.syncer.local.ReplicaTarget;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The case: a 256 MiB sparse image whose replica went from 4 KiB to 248 MiB allocated after
 * {@code sync --full}. Its replica, and a restore of its archive, take what the image takes.
 */
class SparseSyncTest {
  private static final long SIZE = 256L << 20;
  private static final long FEW_MIB = 4L << 20;

  @TempDir Path tmp;

  @Test
  void aFullSyncOverAReplicaAndARestoreKeepTheHoles() throws Exception {
    Path image = tmp.resolve("disk.img");
    Allocation.sparseFile(image, SIZE);
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      byte[] data = new byte[1 << 20];
      new Random(1).nextBytes(data);
      f.seek(100L << 20);
      f.write(data); // 1 MiB of data in 256 MiB of holes
    }
    assertThat(Allocation.allocatedBytes(image)).isLessThanOrEqualTo(FEW_MIB);
    String replica = "file:" + tmp.resolve("replica.img");
    String archive = "archive:" + tmp.resolve("disk.archive");
    for (String[] args :
        new String[][] {
          {"sync", image.toString(), replica},
          {"sync", "--full", image.toString(), replica},
          {"sync", image.toString(), archive},
          {"sync", "--full", image.toString(), archive},
          {"restore", archive, tmp.resolve("restored.img").toString()}
        }) {
      CliRun r = CliRun.of(args);
      assertThat(r.exitCode()).as("%s: %s", String.join(" ", args), r.err()).isZero();
    }
    ReplicaTarget.awaitSettles();
    for (Path copy : new Path[] {tmp.resolve("replica.img"), tmp.resolve("restored.img")}) {
      assertThat(Files.mismatch(image, copy)).as("%s", copy).isEqualTo(-1L);
      assertThat(Allocation.allocatedBytes(copy)).as("du %s", copy).isLessThanOrEqualTo(FEW_MIB);
    }
  }
}
