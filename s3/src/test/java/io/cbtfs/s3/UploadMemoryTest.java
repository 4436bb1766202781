package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.CbtfsException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link UploadMemory}: as many chunks in flight as the heap holds, fewer for bigger chunks. */
class UploadMemoryTest {
  private static final int MIB = 1 << 20;

  /** 5/8 of what -Xmx64m gives a serial collector's heap (a mount's default --max-memory). */
  private static final long DEFAULT_MOUNT = (61L << 20) / 8 * 5;

  @Test
  void theDefaultChunksKeepEveryConnectionAndBiggerOnesFewerWithinTheBudget() throws Exception {
    UploadMemory memory = new UploadMemory(DEFAULT_MOUNT);
    int previous = Integer.MAX_VALUE;
    for (int chunk : new int[] {MIB, 2 * MIB, 4 * MIB}) {
      try (UploadMemory.Reservation r = memory.reserve(chunk, chunk)) {
        assertThat(r.inFlight()).as("%d KiB chunks", chunk >> 10).isPositive();
        assertThat(UploadMemory.heldBytes(r.inFlight(), chunk, chunk))
            .isLessThanOrEqualTo(DEFAULT_MOUNT);
        assertThat(r.inFlight()).isLessThan(previous);
        previous = r.inFlight();
        if (chunk == MIB) {
          assertThat(r.inFlight()).isEqualTo(S3Store.CONNECTIONS);
        } else {
          assertThat(UploadMemory.heldBytes(r.inFlight() + 1, chunk, chunk))
              .as("one more would not fit")
              .isGreaterThan(DEFAULT_MOUNT);
        }
      }
    }
  }

  @Test
  void aDeliveryThatCannotFitAloneIsRefusedNamingTheBudgetItNeeds() {
    UploadMemory memory = new UploadMemory(10L << 20);
    assertThatThrownBy(() -> memory.reserve(4 * MIB, 4 * MIB))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("an S3 sync of 4096 KiB chunks needs")
        .hasMessageMatching(".*--max-memory \\d+M or more.*")
        .hasMessageNotContaining("\n");
  }

  /** Two syncs at once share the memory: the second waits for what one needs, then takes it. */
  @Test
  void concurrentDeliveriesShareTheMemory() throws Exception {
    UploadMemory memory = new UploadMemory(UploadMemory.heldBytes(3, 2 * MIB, 2 * MIB));
    UploadMemory.Reservation first = memory.reserve(2 * MIB, 2 * MIB);
    assertThat(first.inFlight()).isEqualTo(3);
    Thread[] waiter = new Thread[1];
    CompletableFuture<UploadMemory.Reservation> second =
        CompletableFuture.supplyAsync(
            () -> {
              waiter[0] = Thread.currentThread();
              try {
                return memory.reserve(2 * MIB, 2 * MIB);
              } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
              }
            });
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (waiter[0] == null || waiter[0].getState() != Thread.State.WAITING) {
      assertThat(second)
          .as("the second waits, it takes nothing while the first holds all")
          .isNotDone();
      assertThat(System.nanoTime()).isLessThan(deadline);
      Thread.onSpinWait();
    }
    assertThat(second).isNotDone();
    first.close();
    first.close(); // gives back once only
    try (UploadMemory.Reservation r = second.get(30, TimeUnit.SECONDS)) {
      assertThat(r.inFlight()).isEqualTo(3);
    }
  }
}
