package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class ThreadsTest {
  @Test
  void anUninterruptibleWaitOutlastsAnInterruptAndRestoresIt() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch waiting = new CountDownLatch(1);
    Thread releaser =
        new Thread(
            () -> {
              try {
                waiting.await();
              } catch (InterruptedException e) {
                return;
              }
              release.countDown();
            });
    releaser.start();
    Thread.currentThread().interrupt(); // as a sync cancelled while it stops its threads
    Threads.uninterruptibly(
        () -> {
          waiting.countDown();
          release.await();
        });
    assertThat(release.getCount()).as("returned only once the wait was over").isZero();
    assertThat(Thread.interrupted()).as("the interrupt is kept").isTrue();
    releaser.join();
  }
}
