package io.cbtfs.cli;

import io.cbtfs.fs.overlay.OverlayFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --hydrate NAME}: copies the blocks of an overlaid generation that its overlay does not
 * hold yet, 1 MiB at a time, in the background while the mount serves (a VM's writes go on; a block
 * written meanwhile is never copied over). A line every tenth of the way, and one when the overlay
 * file is the whole image. Stopped by {@link #stop} (the unmount): what was copied stays, and the
 * next mount's hydration goes on from there.
 */
final class Hydration implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(Hydration.class);
  private static final int STEP_BYTES = 1 << 20;

  private final String name;
  private final OverlayFile overlay;
  private final PrintWriter out;
  private volatile boolean stopped;

  Hydration(String name, OverlayFile overlay, PrintWriter out) {
    this.name = name;
    this.overlay = overlay;
    this.out = out;
  }

  /** Starts it on a daemon thread of its own. */
  Hydration start() {
    Thread t = new Thread(this, "cbtfs-hydrate-" + name);
    t.setDaemon(true);
    t.start();
    return this;
  }

  /** Stops before the next step. */
  void stop() {
    stopped = true;
  }

  @Override
  public void run() {
    long blocks = overlay.blockCount();
    int step = Math.max(1, STEP_BYTES / overlay.blockSize());
    long totalBytes = overlay.byteSize();
    print(
        String.format(
            "cbtfs: hydrating %s: %d of %d blocks held, copying the rest from the backup",
            name, overlay.presentBlocks(), blocks));
    int tenths = -1;
    try {
      for (long b = 0; b < blocks && !stopped; b += step) {
        overlay.hydrate(b, step);
        long doneBytes = Math.min(totalBytes, (b + step) * (long) overlay.blockSize());
        int now = (int) (doneBytes * 10 / Math.max(1, totalBytes));
        if (now > tenths && now < 10) {
          tenths = now;
          print(
              String.format(
                  "cbtfs: hydrating %s: %d%% (%d of %d MiB)",
                  name, now * 10, doneBytes >> 20, totalBytes >> 20));
        }
      }
      if (!stopped) {
        overlay.force();
        Path file = overlay.imageFile();
        print(
            "cbtfs: hydrated "
                + name
                + ": "
                + file
                + " is the whole image (usable without the mount once unmounted)");
      }
    } catch (IOException | RuntimeException e) {
      if (!stopped) {
        log.error("hydration of {} stopped: {}", name, Errors.describe(e));
        print("cbtfs: hydration of " + name + " stopped: " + Errors.describe(e));
      }
    }
  }

  private void print(String line) {
    synchronized (out) {
      out.println(line);
      out.flush();
    }
  }
}
