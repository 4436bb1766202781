package io.cbtfs.syncer.target;

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
 * The settle steps of committed replica deltas, run on a background thread: make the replica's
 * bytes durable, record the generation, drop the journal. A commit is durable before its settle
 * runs (the journal is), so a settle cut short (kill, power loss) is only redone from the journal
 * at the replica's next use. Anything that reads a replica's state first waits for its settle here;
 * on exit the JVM waits for all of them, so a finished command leaves no journal behind.
 */
final class Settles {
  private static final Logger log = LoggerFactory.getLogger(Settles.class);
  private static final long EXIT_WAIT_SECONDS = 120;

  /** A settle step. */
  @FunctionalInterface
  interface Step {
    void run() throws IOException;
  }

  private static final ExecutorService THREAD =
      Executors.newSingleThreadExecutor(Threads.daemon("cbtfs-replica-settle"));
  private static final ConcurrentHashMap<Path, CompletableFuture<Void>> PENDING =
      new ConcurrentHashMap<>();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Settles::awaitAll, "cbtfs-settle-at-exit"));
  }

  /** Runs before every settle step; tests hold a settle back with it. */
  static volatile Step beforeEachStep = () -> {};

  private Settles() {}

  /** Runs {@code step} for the replica known by {@code key} in the background. */
  static void submit(Path key, Step step) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    PENDING.put(key, done);
    THREAD.execute(
        () -> {
          try {
            beforeEachStep.run();
            step.run();
          } catch (IOException | RuntimeException e) {
            // the journal stays: the replica's next use applies it again and reports what fails
            log.error("settling {} failed, its next use finishes it: {}", key, e.toString());
          } finally {
            PENDING.remove(key, done);
            done.complete(null);
          }
        });
  }

  /** Waits until no settle of {@code key} is pending in this JVM. */
  static void await(Path key) {
    CompletableFuture<Void> f = PENDING.get(key);
    if (f != null) {
      f.join();
    }
  }

  /** Waits for every pending settle (at exit), for at most two minutes. */
  static void awaitAll() {
    List<CompletableFuture<Void>> all = new ArrayList<>(PENDING.values());
    try {
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
          .get(EXIT_WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      log.warn("replica settles still running at exit; their journals finish them later");
    }
  }
}
