package io.cbtfs.s3;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.local.Targets;
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
 * Run by {@link S3HeapTest} in a JVM of a small heap: a full sync of an image of {@code BLOCK}-byte
 * blocks to {@code S3_URI}, of data LZ4 shrinks (so every upload thread keeps a compressed copy of
 * a chunk, as in a real image). Prints "synced generation N"; an OutOfMemoryError ends it non-zero.
 * Usage: S3_URI DIR BLOCK IMAGE_MIB.
 */
final class SmallHeapSync {
  private SmallHeapSync() {}

  public static void main(String[] args) throws Exception {
    String uri = args[0];
    Path dir = Path.of(args[1]);
    int blockSize = Integer.parseInt(args[2]);
    long size = Long.parseLong(args[3]) << 20;
    Path image = dir.resolve("disk.img");
    Random rnd = new Random(3);
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
          new Syncer(Syncer.DEFAULT_RECORD_BYTES, 2)
              .sync(
                  new SyncSource(tracked, image),
                  Targets.parse(uri, dir),
                  false,
                  SyncProgress.NONE);
      System.out.println("synced generation " + r.generation());
    }
  }
}
