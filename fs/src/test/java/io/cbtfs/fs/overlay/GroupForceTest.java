package io.cbtfs.fs.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class GroupForceTest {
  /**
   * Writers that call while a force runs are covered by one more force, not one each (mutant: a
   * force per call makes 1 + 7).
   */
  @Test
  void writersArrivingDuringAForceShareTheNextOne() throws Exception {
    AtomicInteger forces = new AtomicInteger();
    CountDownLatch firstStarted = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    GroupForce group =
        new GroupForce(
            () -> {
              if (forces.incrementAndGet() == 1) {
                firstStarted.countDown();
                await(release);
              }
            });
    List<Thread> threads = new java.util.concurrent.CopyOnWriteArrayList<>();
    ExecutorService pool =
        Executors.newFixedThreadPool(
            8,
            r -> {
              Thread t = new Thread(r);
              threads.add(t);
              return t;
            });
    try {
      List<Future<?>> calls = new ArrayList<>();
      calls.add(pool.submit(() -> force(group)));
      assertThat(firstStarted.await(30, TimeUnit.SECONDS)).isTrue();
      CountDownLatch waiting = new CountDownLatch(7);
      for (int i = 0; i < 7; i++) {
        calls.add(
            pool.submit(
                () -> {
                  waiting.countDown();
                  force(group);
                }));
      }
      assertThat(waiting.await(30, TimeUnit.SECONDS)).isTrue();
      // a later writer waits (on the group's monitor) only once it has its ticket; the first
      // waits in its force for the release
      while (threads.size() < 8
          || !threads.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
        Thread.onSpinWait();
      }
      release.countDown();
      for (Future<?> f : calls) {
        f.get(30, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(forces.get()).isEqualTo(2);
  }

  /**
   * A failed force fails the writers it covered and every later one, even if the file would force
   * again without an error (mutant: forget the failure, and the later call returns).
   */
  @Test
  void aFailedForceFailsEveryLaterWriter() {
    AtomicInteger forces = new AtomicInteger();
    GroupForce group =
        new GroupForce(
            () -> {
              if (forces.incrementAndGet() == 1) {
                throw new IOException("EIO");
              }
            });
    assertThatThrownBy(group::force).isInstanceOf(IOException.class).hasMessageContaining("EIO");
    assertThatThrownBy(group::force)
        .isInstanceOf(IOException.class)
        .hasMessageContaining("cannot force the overlay file: EIO");
    assertThat(forces.get()).isEqualTo(1);
  }

  private static void force(GroupForce group) {
    try {
      group.force();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }
}
