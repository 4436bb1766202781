package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.FuseOperation;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/** The FUSE latency histogram: by operation, and nothing allocated per request. */
class RequestLatencyTest {
  private static final int WARMUP = 200_000;
  private static final int MEASURED = 100_000;

  @Test
  void countsEachOperationInItsBucket() {
    PrometheusRegistry registry = new PrometheusRegistry();
    RequestLatency latency = new RequestLatency(registry);
    latency.answered(FuseOperation.WRITE, 30_000); // 30 µs
    latency.answered(FuseOperation.WRITE, 3_000_000); // 3 ms
    latency.answered(FuseOperation.READ, 100_000);
    Exposition e = Exposition.of(registry);
    String write = "{operation=\"write\"}";
    assertThat(e.of(RequestLatency.NAME + "_count" + write)).isEqualTo(2);
    assertThat(e.of(RequestLatency.NAME + "_sum" + write)).isEqualTo(0.00303);
    assertThat(e.of(RequestLatency.NAME + "_bucket{operation=\"write\",le=\"5.0E-5\"}"))
        .isEqualTo(1);
    assertThat(e.of(RequestLatency.NAME + "_bucket{operation=\"write\",le=\"0.005\"}"))
        .isEqualTo(2);
    assertThat(e.of(RequestLatency.NAME + "_count{operation=\"read\"}")).isEqualTo(1);
    assertThat(e.value(RequestLatency.NAME + "_count{operation=\"lookup\"}"))
        .as("an operation never served is not listed")
        .isEmpty();
  }

  @Test
  void anObservationAllocatesNothing() {
    RequestLatency latency = new RequestLatency(new PrometheusRegistry());
    FuseOperation[] ops = {FuseOperation.WRITE, FuseOperation.READ, FuseOperation.GETATTR};
    observe(latency, ops, WARMUP); // JIT
    long before = allocated();
    observe(latency, ops, MEASURED);
    long used = allocated() - before;
    assertThat(used).as("bytes allocated by %d observations", MEASURED).isLessThan(MEASURED / 8);
  }

  private static void observe(RequestLatency latency, FuseOperation[] ops, int count) {
    for (int i = 0; i < count; i++) {
      latency.answered(ops[i % ops.length], 1000L + i % 5000);
    }
  }

  private static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getThreadAllocatedBytes(Thread.currentThread().getId());
  }
}
