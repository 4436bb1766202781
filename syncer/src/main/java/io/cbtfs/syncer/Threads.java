package io.cbtfs.syncer;

import java.util.concurrent.ThreadFactory;

/** Worker threads that never keep the JVM alive: a command or a mount ends when its work does. */
public final class Threads {
  private Threads() {}

  /** A factory of daemon threads called {@code name}. */
  public static ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
