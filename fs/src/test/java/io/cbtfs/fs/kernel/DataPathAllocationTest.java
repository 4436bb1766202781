package io.cbtfs.fs.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * READ and WRITE requests allocate nothing once the JIT has compiled them: a VM's I/O at 50,000
 * requests a second must not feed the garbage collector.
 */
class DataPathAllocationTest {
  private static final int WARMUP = 60_000;
  private static final int MEASURED = 20_000;

  @TempDir Path dir;

  @Test
  void readsAndWritesAllocateNothingInSteadyState() throws IOException {
    try (Requests k = new Requests(dir, Requests.options(dir, false))) {
      long fh =
          k.send(FuseAbi.CREATE, 1, Requests.create("vm.img", 2)).u64(FuseAbi.ENTRY_OUT_BYTES);
      byte[] write =
          Requests.request(FuseAbi.WRITE, 1, 2, Requests.write(fh, 0, new byte[4096]).bytes());
      byte[] read = Requests.request(FuseAbi.READ, 2, 2, Requests.read(fh, 0, 4096).bytes());
      WorkerBuffers b = k.buffers;
      run(k, b, write, read, WARMUP); // JIT
      long before = allocated();
      run(k, b, write, read, MEASURED);
      long used = allocated() - before;
      assertThat(used)
          .as("bytes allocated by %d reads and %d writes", MEASURED, MEASURED)
          .isLessThan(MEASURED / 4);
    }
  }

  /** Alternates WRITE and READ of 4 KiB over the first 64 KiB, each at its own offset. */
  private static void run(Requests k, WorkerBuffers b, byte[] write, byte[] read, int count) {
    Pointer in = b.request;
    for (int i = 0; i < count; i++) {
      long offset = (i % 16) * 4096L;
      in.put(0, write, 0, write.length);
      in.putLong(48, offset);
      if (k.handler.handle(b, write.length) != 16 + 8) { // no assertThat here: it allocates
        throw new AssertionError("write failed");
      }
      in.put(0, read, 0, read.length);
      in.putLong(48, offset);
      if (k.handler.handle(b, read.length) != 16 + 4096) {
        throw new AssertionError("read failed");
      }
    }
  }

  private static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getThreadAllocatedBytes(Thread.currentThread().getId());
  }
}
