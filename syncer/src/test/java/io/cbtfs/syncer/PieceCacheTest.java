package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class PieceCacheTest {
  private final Object owner = new Object();

  private static PieceCache.Loader bytes(int n, AtomicInteger loads) {
    return () -> {
      loads.incrementAndGet();
      return new byte[n];
    };
  }

  @Test
  void theLimitHoldsAndTheLeastRecentlyUsedGoesFirst() throws IOException {
    PieceCache cache = new PieceCache(3000);
    AtomicInteger loads = new AtomicInteger();
    for (int i = 0; i < 3; i++) {
      cache.get(new PieceCache.Key(owner, i), bytes(1000, loads));
    }
    cache.get(new PieceCache.Key(owner, 0), bytes(1000, loads)); // 0 is now the newest
    cache.get(new PieceCache.Key(owner, 3), bytes(1000, loads)); // evicts 1
    assertThat(cache.bytes()).isEqualTo(3000);
    assertThat(loads.get()).isEqualTo(4);
    cache.get(new PieceCache.Key(owner, 0), bytes(1000, loads));
    cache.get(new PieceCache.Key(owner, 2), bytes(1000, loads));
    assertThat(loads.get()).isEqualTo(4);
    cache.get(new PieceCache.Key(owner, 1), bytes(1000, loads));
    assertThat(loads.get()).isEqualTo(5);
    for (int i = 10; i < 100; i++) {
      cache.get(new PieceCache.Key(owner, i), bytes(700 + i, loads));
      assertThat(cache.bytes()).isLessThanOrEqualTo(3000);
    }
    assertThat(cache.peakBytes()).isLessThanOrEqualTo(3000);
    cache.get(new PieceCache.Key(owner, 500), bytes(5000, loads)); // larger than the limit
    assertThat(cache.bytes()).isLessThanOrEqualTo(3000);
    cache.dropAll(owner);
    assertThat(cache.bytes()).isZero();
  }

  @Test
  void concurrentReadersOfAMissingPieceLoadItOnce() throws Exception {
    PieceCache cache = new PieceCache(1 << 20);
    AtomicInteger loads = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    PieceCache.Key key = new PieceCache.Key(owner, 7);
    PieceCache.Loader slow =
        () -> {
          loads.incrementAndGet();
          try {
            release.await();
          } catch (InterruptedException e) {
            throw new java.io.InterruptedIOException();
          }
          return new byte[] {42};
        };
    List<Thread> readers = new ArrayList<>();
    List<byte[]> got = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < 4; i++) {
      Thread t =
          new Thread(
              () -> {
                try {
                  got.add(cache.get(key, slow));
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      readers.add(t);
      t.start();
    }
    // every reader is blocked: in the one load, or waiting for it
    while (!readers.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
      Thread.onSpinWait();
    }
    release.countDown();
    for (Thread t : readers) {
      t.join();
    }
    assertThat(got).hasSize(4).allSatisfy(b -> assertThat(b).containsExactly(42));
    assertThat(loads.get()).isEqualTo(1);
  }

  @Test
  void aFailedLoadIsNotKeptAndTheNextReadTriesAgain() throws IOException {
    PieceCache cache = new PieceCache(1 << 20);
    PieceCache.Key key = new PieceCache.Key(owner, 1);
    assertThatThrownBy(
            () ->
                cache.get(
                    key,
                    () -> {
                      throw new IOException("chunk damaged");
                    }))
        .hasMessage("chunk damaged");
    assertThat(cache.get(key, () -> new byte[] {1})).containsExactly(1);
  }
}
