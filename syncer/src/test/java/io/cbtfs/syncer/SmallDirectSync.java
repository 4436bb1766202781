package io.cbtfs.syncer;

import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Run by {@link BigBlocksDirectMemoryTest} in a JVM whose direct buffers are as few as a mount's
 * default budget gives: a full sync, on 8 threads, of an image of {@code BLOCK}-byte blocks that
 * LZ4 shrinks (every record has a compressed copy) to a replica. Prints "synced generation N"; an
 * OutOfMemoryError ends it non-zero. Usage: DIR BLOCK IMAGE_MIB.
 */
final class SmallDirectSync {
  private SmallDirectSync() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int blockSize = Integer.parseInt(args[1]);
    long size = Long.parseLong(args[2]) << 20;
    Path image = dir.resolve("disk.img");
    Random rnd = new Random(5);
    byte[] piece = new byte[64 << 10];
    try (OutputStream out = Files.newOutputStream(image)) {
      for (long at = 0; at < size; at += piece.length) {
        rnd.nextBytes(piece);
        java.util.Arrays.fill(piece, 0, piece.length / 4, (byte) 0); // a quarter zeros
        out.write(piece);
      }
    }
    try (TrackerStore store =
        TrackerStore.open(
            dir.resolve(".cbtfs"), TrackingOptions.defaults(BlockGeometry.of(blockSize)))) {
      TrackedImage tracked = store.image("disk.img", Fingerprint.sizeOnly(size));
      SyncReport r =
          new Syncer(Syncer.DEFAULT_RECORD_BYTES, Syncer.MIN_IO_THREADS)
              .sync(
                  new SyncSource(tracked, image),
                  new ReplicaTarget(dir.resolve("replica.img")),
                  false,
                  SyncProgress.NONE);
      ReplicaTarget.awaitSettles();
      System.out.println("synced generation " + r.generation());
    }
  }
}
