package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Invariant 1 with a sync racing real writes: writers keep writing through a real mount while syncs
 * run back to back; after the writers stop and one last sync, the target equals the image byte for
 * byte.
 */
class SyncIT {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int IMAGE_BYTES = 16 << 20;

  @TempDir Path tmp;
  MountedFolder folder;

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  @ParameterizedTest
  @ValueSource(longs = {21, 22, 23})
  void syncsRacingWritersNeverLoseAChange(long seed) throws Exception {
    folder = MountedFolder.prepare(tmp, G);
    byte[] original = new byte[IMAGE_BYTES];
    new Random(seed).nextBytes(original);
    Files.write(folder.backingFile("disk.img"), original);
    folder.mount();
    Path replicaFile = Files.createDirectory(tmp.resolve("replica")).resolve("disk.img");
    Target replica = new ReplicaTarget(replicaFile);
    ArchiveTarget archive = new ArchiveTarget(tmp.resolve("archive"));

    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> writers = new ArrayList<>();
    for (int w = 0; w < 2; w++) {
      long wseed = seed * 10 + w;
      Thread t =
          new Thread(
              () -> {
                Random rnd = new Random(wseed);
                try (FileChannel ch =
                    FileChannel.open(folder.image("disk.img"), StandardOpenOption.WRITE)) {
                  while (!stop.get()) {
                    int len = 1 + rnd.nextInt(100_000);
                    long off = (long) (rnd.nextDouble() * (IMAGE_BYTES + 200_000 - len));
                    byte[] data = new byte[len];
                    if (rnd.nextInt(5) > 0) {
                      rnd.nextBytes(data); // else zeros: zero records
                    }
                    ByteBuffer b = ByteBuffer.wrap(data);
                    while (b.hasRemaining()) {
                      ch.write(b, off + b.position());
                    }
                  }
                } catch (Throwable e) {
                  failure.set(e);
                }
              },
              "writer-" + w);
      writers.add(t);
      t.start();
    }
    int syncs = 0;
    try {
      for (; syncs < 12; syncs++) {
        Target t = syncs % 3 == 2 ? archive : replica;
        SyncReport r = folder.sync("disk.img", t);
        assertThat(r.wireBytes()).isPositive();
      }
    } finally {
      stop.set(true);
      for (Thread t : writers) {
        t.join();
      }
    }
    assertThat(failure.get()).as("writer failure").isNull();
    // writes paused: one last sync to each target, then byte equality
    folder.sync("disk.img", replica);
    assertThat(Files.mismatch(folder.backingFile("disk.img"), replicaFile)).isEqualTo(-1L);
    folder.sync("disk.img", archive);
    Path restored = tmp.resolve("restored.img");
    archive.restore(
        archive.state().generation(),
        restored,
        io.cbtfs.syncer.local.Restorable.RestoreProgress.NONE);
    assertThat(Files.mismatch(folder.backingFile("disk.img"), restored)).isEqualTo(-1L);
    assertThat(syncs).isEqualTo(12);
  }
}
