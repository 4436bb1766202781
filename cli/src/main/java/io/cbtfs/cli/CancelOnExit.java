package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C (or SIGTERM) of a {@code cbtfs sync} that a mount runs. The JVM's shutdown hook ends this
 * side of the control connection, which makes the mount cancel the sync at its next record; it
 * waits for the mount's answer (bounded) and prints it. So once the process has exited, the mount
 * no longer syncs: the target is as it was, or at the new generation if the sync had already
 * committed, never in between; the blocks not synced stay dirty.
 *
 * <p>The caller hands the answer to {@link #handOver}; when the hook has taken over, the caller
 * throws {@link Reported} and prints nothing (the process is exiting, with 130 after Ctrl-C).
 */
final class CancelOnExit implements AutoCloseable {
  /** How long an interrupted sync waits for the mount to confirm that it stopped. */
  static final long WAIT_SECONDS = ControlClient.READ_TIMEOUT.toSeconds();

  /** The sync was interrupted and its outcome printed by the hook; nothing more to report. */
  static final class Reported extends CbtfsException {
    private static final long serialVersionUID = 1L;

    Reported() {
      super("interrupted");
    }
  }

  private final ControlChannel channel;
  private final PrintStream err;
  private final Thread hook;
  private final CountDownLatch answered = new CountDownLatch(1);
  private volatile boolean cancelling;
  private volatile String outcome;

  private CancelOnExit(ControlChannel channel, PrintStream err) {
    this.channel = channel;
    this.err = err;
    this.hook = new Thread(this::cancel, "cbtfs-sync-cancel");
  }

  static CancelOnExit install(ControlChannel channel, PrintStream err) {
    CancelOnExit c = new CancelOnExit(channel, err);
    Runtime.getRuntime().addShutdownHook(c.hook);
    return c;
  }

  private void cancel() {
    cancelling = true;
    err.println(
        System.lineSeparator() + "cbtfs sync: interrupted: stopping the sync in the mount...");
    try {
      channel.shutdownOutput();
    } catch (IOException e) {
      return; // the connection is already gone, and with it the mount's sync
    }
    try {
      if (!answered.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
        err.println(
            "cbtfs sync: the mount did not confirm within "
                + WAIT_SECONDS
                + " s; it stops the sync at its next record");
      } else if (outcome != null) {
        err.println("cbtfs sync: " + outcome);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    err.flush();
  }

  /** Whether Ctrl-C (or SIGTERM) started the cancel: the process is exiting. */
  boolean cancelling() {
    return cancelling;
  }

  /**
   * Gives the mount's answer to the hook, if it is running.
   *
   * @return true if the hook took over: the caller must throw {@link Reported} instead of reporting
   */
  boolean handOver(String outcomeLine) {
    if (!cancelling) {
      return false;
    }
    outcome = outcomeLine;
    answered.countDown();
    return true;
  }

  @Override
  public void close() {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      answered.countDown(); // a hook that started after the answer: it has nothing to wait for
    }
  }
}
