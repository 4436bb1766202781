package io.cbtfs.syncer;

import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

/** An image file with its tracking, written the way the FUSE layer writes (intent, write, mark). */
public final class SyncFixture implements AutoCloseable {
  public static final BlockGeometry G = BlockGeometry.of(65536);
  public final Path image;
  private final Path stateDir;
  public TrackerStore store;
  public TrackedImage tracked;

  public SyncFixture(Path dir, int imageBytes, long seed) throws IOException {
    image = dir.resolve("disk.img");
    byte[] data = new byte[imageBytes];
    new Random(seed).nextBytes(data);
    Arrays2.zeroRange(data, imageBytes / 2, imageBytes / 2 + 300_000); // some zero blocks
    Files.write(image, data);
    stateDir = dir.resolve(".cbtfs");
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(G));
    tracked = store.image("disk.img", Fingerprint.sizeOnly(imageBytes));
  }

  /** {@code n} bytes from the generator seeded with {@code seed}: the same bytes every run. */
  public static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /**
   * The tracking as a new process finds it after this one died: nothing saved beyond what is on
   * disk, the state and activity log recovered.
   */
  public void crashAndRecover() throws IOException {
    store.close(); // releases the lock and the log; saves nothing
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(G));
    tracked = store.image("disk.img", Fingerprint.sizeOnly(Files.size(image)));
  }

  public SyncSource source() {
    return new SyncSource(tracked, image);
  }

  /** Writes through the tracking, as TrackingWrites does. */
  public void write(long offset, byte[] data) throws IOException {
    tracked.beforeWrite(offset, data.length);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(data);
      while (b.hasRemaining()) {
        ch.write(b, offset + b.position());
      }
    } finally {
      tracked.afterWrite(offset, data.length);
    }
  }

  @Override
  public void close() throws IOException {
    ReplicaTarget.awaitSettles(); // a replica's settle ends before the test's folder goes
    store.close();
  }

  static final class Arrays2 {
    static void zeroRange(byte[] a, int from, int to) {
      java.util.Arrays.fill(a, from, Math.min(to, a.length), (byte) 0);
    }
  }
}
