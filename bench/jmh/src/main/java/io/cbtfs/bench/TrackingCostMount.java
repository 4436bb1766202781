package io.cbtfs.bench;

import io.cbtfs.fs.WriteTracking;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackedImage;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A mount with all, part or none of the write path's tracking, to measure what it costs
 * (bench/fio-tracking.sh). Benchmarks only: anything but {@code FULL} loses changes (after a crash,
 * or at once). Prints {@value #READY} once the mount serves, and runs until it is unmounted.
 *
 * <p>Usage: {@code TrackingCostMount FULL|NO_ACTIVITY_LOG|NONE BACKING_DIR MOUNTPOINT}
 */
public final class TrackingCostMount {
  static final String READY = "ready";

  private TrackingCostMount() {}

  /** What the write path does of the tracking. */
  enum Mode {
    /** The production tracking: activity-log intent, then the dirty bit. */
    FULL(WriteTracking.TRACKED),
    /** The dirty bit only: no durable intent, so a crash loses the changes since the last save. */
    NO_ACTIVITY_LOG(
        new WriteTracking() {
          @Override
          public void beforeWrite(TrackedImage image, long byteOffset, long byteLength) {}

          @Override
          public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {
            image.tracker().mark(byteOffset, byteLength);
          }
        }),
    /** Nothing: the backing write alone. */
    NONE(
        new WriteTracking() {
          @Override
          public void beforeWrite(TrackedImage image, long byteOffset, long byteLength) {}

          @Override
          public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {}
        });

    final WriteTracking tracking;

    Mode(WriteTracking tracking) {
      this.tracking = tracking;
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println(
          "usage: TrackingCostMount FULL|NO_ACTIVITY_LOG|NONE BACKING_DIR MOUNTPOINT");
      System.exit(2);
    }
    Mode mode = Mode.valueOf(args[0].toUpperCase(Locale.ROOT));
    MountOptions options =
        MountOptions.withDefaults(Path.of(args[1]), Path.of(args[2]), BlockGeometry.defaults());
    Mount mount = Mount.start(options, mode.tracking);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    mount.shutdown();
                  } catch (Exception e) {
                    System.err.println("stopping: " + e.getMessage());
                  }
                }));
    System.out.println(READY);
    System.out.flush();
    mount.awaitUnmounted();
    mount.close();
  }
}
