package io.cbtfs.syncer.local;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The settle steps of committed replica deltas, run in the background: make the replica's bytes
 * durable, record the generation, drop the journal. A commit is durable before its settle runs (the
 * journal is), so a settle cut short (kill, power loss) is only redone from the journal at the
 * replica's next use.
 *
 * <p>A settle waits at its gate until the sync that committed it is over (the target is closed),
 * because on ext4 its fdatasync of the replica would otherwise hold up the source's own fsync of
 * its tracking state (one journal commit carries both). Anything that reads a replica's state opens
 * the gate and waits for the settle; so does the JVM at exit, so a finished command leaves no
 * journal behind. A gate nobody opens opens by itself after a few seconds.
 */
final class Settles {
  private static final Logger log = LoggerFactory.getLogger(Settles.class);
  private static final long EXIT_WAIT_SECONDS = 120;
  private static final long GATE_SECONDS = 5;

  /** A settle not yet done: {@code gate} lets it start, {@code done} says it ended. */
  private record Pending(CompletableFuture<Void> gate, CompletableFuture<Void> done) {
    void finish() {
      gate.complete(null);
      done.join();
    }
  }

  private static final ExecutorService THREADS =
      Executors.newCachedThreadPool(Threads.daemon("cbtfs-replica-settle"));
  private static final ConcurrentHashMap<Path, Pending> PENDING = new ConcurrentHashMap<>();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Settles::awaitAll, "cbtfs-settle-at-exit"));
  }

  private Settles() {}

  /** Queues {@code step} for the replica known by {@code key}; it starts at {@link #open}. */
  static void submit(Path key, CommitPoint.Step step) {
    Pending p = new Pending(new CompletableFuture<>(), new CompletableFuture<>());
    PENDING.put(key, p);
    Runnable finished = // whoever waits for it may go on
        () -> {
          PENDING.remove(key, p);
          p.done().complete(null);
        };
    try {
      THREADS.execute(
          () -> {
            try {
              p.gate().get(GATE_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
              // nobody opened it: settle anyway
            }
            try {
              step.run();
            } catch (IOException | RuntimeException e) {
              // the journal stays: the replica's next use applies it again and reports what fails
              log.error("settling {} failed, its next use finishes it: {}", key, e.toString());
            } finally {
              finished.run();
            }
          });
    } catch (Throwable e) { // no thread to run it: nobody may wait for it
      finished.run();
      throw e;
    }
  }

  /** Lets the settle of {@code key} start now (the sync that committed it is over). */
  static void open(Path key) {
    Pending p = PENDING.get(key);
    if (p != null) {
      p.gate().complete(null);
    }
  }

  /** Starts the settle of {@code key}, if one is pending in this JVM, and waits for it. */
  static void await(Path key) {
    Pending p = PENDING.get(key);
    if (p != null) {
      p.finish();
    }
  }

  /** Starts and waits for every pending settle (at exit), for at most two minutes. */
  static void awaitAll() {
    List<Pending> all = new ArrayList<>(PENDING.values());
    all.forEach(p -> p.gate().complete(null));
    try {
      CompletableFuture.allOf(all.stream().map(Pending::done).toArray(CompletableFuture[]::new))
          .get(EXIT_WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("replica settles still running at exit; their journals finish them later");
    }
  }
}
