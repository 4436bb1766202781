package io.cbtfs.fs.mount;

import io.cbtfs.tracker.CbtfsException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The thread that runs a {@link ServingLoop}, and its result: what a {@link Mount} and a {@link
 * ReadOnlyMount} share to come up and to know when the kernel let them go.
 */
final class ServingThread {
  private static final long START_TIMEOUT_SECONDS = 30;

  private final ServingLoop loop;
  private final Thread thread;
  private final CompletableFuture<Integer> result = new CompletableFuture<>();

  ServingThread(ServingLoop loop) {
    this.loop = loop;
    this.thread =
        new Thread(
            () -> {
              try {
                result.complete(loop.run());
              } catch (Throwable t) {
                result.completeExceptionally(t);
              }
            },
            "cbtfs-fuse-loop");
  }

  /**
   * Starts the loop and returns once the kernel's INIT was answered.
   *
   * @param mountPoint named in the one-line reason when the mount cannot be made
   * @throws CbtfsException if the loop ended, failed or did not come up in time
   */
  void startAndAwaitServing(String mountPoint) throws CbtfsException {
    thread.start();
    try {
      CompletableFuture.anyOf(
              result,
              CompletableFuture.runAsync(
                  () -> {
                    try {
                      loop.initialized().await();
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }))
          .get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new CbtfsException("mount did not come up within " + START_TIMEOUT_SECONDS + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CbtfsException("interrupted while mounting");
    } catch (ExecutionException e) {
      throw new CbtfsException("FUSE loop failed to start: " + e.getCause(), e.getCause());
    }
    if (result.isDone()) {
      throw new CbtfsException(
          loop.transport().label()
              + " could not mount "
              + mountPoint
              + (result.isCompletedExceptionally() ? "" : " (exit " + result.join() + ")")
              + "; its reason is printed above");
    }
  }

  /** Completes when the loop ends (unmounted by us or by anyone else). */
  CompletableFuture<Integer> result() {
    return result;
  }

  void join(long timeoutSeconds) throws InterruptedException {
    thread.join(TimeUnit.SECONDS.toMillis(timeoutSeconds));
  }
}
