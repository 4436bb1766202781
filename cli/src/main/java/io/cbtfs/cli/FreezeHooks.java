package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.Map;

/**
 * {@code cbtfs sync --pre-hook CMD --post-hook CMD}: commands run by the sync's client (as its
 * user, through {@code sh -c}) around the drain, to freeze the guest's file systems for the instant
 * the target will hold ({@code virsh domfsfreeze} / {@code domfsthaw}). The post-hook runs as soon
 * as the sync took its dirty set ({@link SyncProgress#drained}), not after the copy, and always
 * once the pre-hook ran: a guest is never left frozen by a failed sync. Their output goes to
 * standard error (standard output carries the report); each sees {@code CBTFS_IMAGE} and {@code
 * CBTFS_TARGET}.
 *
 * <p>Ctrl-C or SIGTERM while frozen (during the pre-hook, or before the drain) exits the JVM
 * without unwinding the sync's thread: a shutdown hook runs the post-hook then, after ending a
 * pre-hook still running (and what it started).
 */
final class FreezeHooks {
  static final FreezeHooks NONE = new FreezeHooks(null, null, Map.of(), ExitHooks.RUNTIME);

  /** Where the thaw at exit is registered: the JVM's shutdown hooks, or what a test injects. */
  interface ExitHooks {
    ExitHooks RUNTIME =
        new ExitHooks() {
          @Override
          public void add(Thread hook) {
            Runtime.getRuntime().addShutdownHook(hook);
          }

          @Override
          public void remove(Thread hook) {
            try {
              Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
              // the hook itself, or another exit path: it thaws at most once anyway
            }
          }
        };

    void add(Thread hook);

    void remove(Thread hook);
  }

  private final String pre;
  private final String post;
  private final Map<String, String> env;
  private final ExitHooks exitHooks;
  private final Thread thawAtExit = new Thread(this::thawAtExit, "cbtfs-thaw");
  private boolean frozen;
  private String thawWarning = "";
  private volatile Process preHook; // while it runs: an exit ends it instead of waiting for it
  private volatile boolean preHookEnded; // by the exit: whatever it exited with, no sync starts

  private FreezeHooks(String pre, String post, Map<String, String> env, ExitHooks exitHooks) {
    this.pre = pre;
    this.post = post;
    this.env = env;
    this.exitHooks = exitHooks;
  }

  /** The hooks of a sync of {@code image} to {@code target}; null or blank: none. */
  static FreezeHooks of(String pre, String post, String image, String target) {
    return of(pre, post, image, target, ExitHooks.RUNTIME);
  }

  static FreezeHooks of(String pre, String post, String image, String target, ExitHooks exit) {
    return new FreezeHooks(
        blank(pre) ? null : pre,
        blank(post) ? null : post,
        Map.of("CBTFS_IMAGE", image, "CBTFS_TARGET", target),
        exit);
  }

  private static boolean blank(String s) {
    return s == null || s.isBlank();
  }

  /**
   * Runs the pre-hook.
   *
   * @throws CbtfsException if it fails: the sync must not start (the post-hook has run already)
   */
  synchronized void freeze() throws IOException {
    frozen = true;
    if (post != null) { // before the pre-hook: an exit during it thaws once it is over (this lock)
      exitHooks.add(thawAtExit);
    }
    if (pre == null) {
      return;
    }
    Process p = start(pre);
    preHook = p;
    int exit;
    try {
      exit = waitFor(p, pre);
    } finally {
      preHook = null;
    }
    if (exit != 0 || preHookEnded) {
      String thawed = thaw();
      throw new CbtfsException(
          (preHookEnded
                  ? "the --pre-hook was ended by the exit"
                  : "the --pre-hook exited with " + exit)
              + ": the sync did not start"
              + (thawed.isEmpty() ? "" : "; " + thawed));
    }
  }

  /**
   * Runs the post-hook once, if the pre-hook ran; again a no-op.
   *
   * @return a warning for the operator if it failed, else empty
   */
  synchronized String thaw() {
    if (!frozen) {
      return thawWarning;
    }
    frozen = false;
    if (post == null) {
      return "";
    }
    if (Thread.currentThread() != thawAtExit) {
      exitHooks.remove(thawAtExit);
    }
    try {
      int exit = run(post);
      if (exit != 0) {
        thawWarning = "the --post-hook exited with " + exit + " (is the guest still frozen?)";
      }
    } catch (IOException e) {
      thawWarning =
          "the --post-hook did not run: " + e.getMessage() + " (is the guest still frozen?)";
    }
    return thawWarning;
  }

  private void thawAtExit() {
    Process hanging = preHook;
    if (hanging != null) { // a freeze that never ends (a stuck guest agent) would hold the exit
      preHookEnded = true;
      List<ProcessHandle> started = hanging.descendants().toList(); // before the shell's end
      hanging.destroy();
      started.forEach(ProcessHandle::destroy);
    }
    synchronized (this) {
      if (frozen) {
        String warning = thaw();
        if (!warning.isEmpty()) {
          System.err.println("cbtfs: warning: " + warning);
        }
      }
    }
  }

  /** {@code progress}, with the post-hook run at the drain. */
  SyncProgress around(SyncProgress progress) {
    if (post == null) {
      return progress;
    }
    return new SyncProgress() {
      @Override
      public void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks)
          throws IOException {
        progress.update(doneBytes, totalBytes, doneBlocks, totalBlocks);
      }

      @Override
      public void drained() {
        thaw();
        progress.drained();
      }

      @Override
      public void member(int index) {
        progress.member(index);
      }
    };
  }

  private int run(String command) throws IOException {
    return waitFor(start(command), command);
  }

  private Process start(String command) throws IOException {
    ProcessBuilder pb =
        new ProcessBuilder("sh", "-c", command)
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .redirectOutput(ProcessBuilder.Redirect.appendTo(new File("/dev/stderr")))
            .redirectError(ProcessBuilder.Redirect.INHERIT);
    pb.environment().putAll(env);
    return pb.start();
  }

  private static int waitFor(Process p, String command) throws IOException {
    try {
      return p.waitFor();
    } catch (InterruptedException e) {
      p.destroy();
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while the hook '" + command + "' ran");
    }
  }
}
