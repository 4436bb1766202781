package io.cbtfs.syncer;

import java.util.concurrent.ThreadFactory;

/** Worker threads that never keep the JVM alive: a command or a mount ends when its work does. */
public final class Threads {
  private Threads() {}

  /** A wait that an interrupt must not cut short. */
  @FunctionalInterface
  public interface Wait {
    void await() throws InterruptedException;
  }

  /**
   * Runs {@code wait} to its end even if this thread is or gets interrupted (a stop that must not
   * return before a thread using a descriptor is gone), then restores the interrupt.
   */
  public static void uninterruptibly(Wait wait) {
    boolean interrupted = Thread.interrupted();
    while (true) {
      try {
        wait.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** A factory of daemon threads called {@code name}. */
  public static ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
