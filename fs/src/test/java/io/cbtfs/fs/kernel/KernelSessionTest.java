package io.cbtfs.fs.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.Posix;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker loop over a fake /dev/fuse: how it ends. */
class KernelSessionTest {
  private static final int ENOENT = 2;
  private static final int ENODEV = 19;

  @TempDir Path dir;

  /** A /dev/fuse that reads and writes as each test scripts it. */
  private abstract static class FakeDevice implements DevFuseCalls {
    /** Fails with {@code errno}, as a system call does. */
    static long fail(int errno) {
      Posix.get().runtime().setLastError(errno);
      return -1;
    }

    @Override
    public int mount(String source, String target, String fstype, long flags, String data) {
      return 0;
    }

    @Override
    public int umount2(String target, int flags) {
      return 0;
    }

    @Override
    public int ioctl(int fd, long request, Pointer arg) {
      return 0;
    }

    @Override
    public int geteuid() {
      return 0;
    }

    @Override
    public int getegid() {
      return 0;
    }
  }

  /**
   * The loop's own thread meets an Error on its first read; every other worker waits for the
   * unmount, then reads ENODEV.
   */
  private static final class FailingDevice extends FakeDevice {
    final AtomicReference<Thread> loopThread = new AtomicReference<>();
    final CountDownLatch failed = new CountDownLatch(1);
    final CountDownLatch unmounted = new CountDownLatch(1);

    @Override
    public long read(int fd, Pointer buf, long count) {
      if (Thread.currentThread() == loopThread.get()) {
        failed.countDown();
        throw new OutOfMemoryError("test");
      }
      try {
        unmounted.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return fail(ENODEV);
    }

    @Override
    public long write(int fd, Pointer buf, long count) {
      return count;
    }
  }

  /**
   * Delivers {@code requests} in turn and refuses every reply with ENOENT (their callers were
   * interrupted), then reads ENODEV.
   */
  private static final class InterruptedCallers extends FakeDevice {
    private final Deque<byte[]> requests;

    InterruptedCallers(List<byte[]> requests) {
      this.requests = new ArrayDeque<>(requests);
    }

    @Override
    public synchronized long read(int fd, Pointer buf, long count) {
      byte[] next = requests.poll();
      if (next == null) {
        return fail(ENODEV);
      }
      buf.put(0, next, 0, next.length);
      return next.length;
    }

    @Override
    public long write(int fd, Pointer buf, long count) {
      return fail(ENOENT);
    }
  }

  @Test
  void theLoopDoesNotEndWhileOtherWorkersServeAfterAnErrorKilledItsOwnThread() throws Exception {
    KernelOptions options = new KernelOptions(dir, "test", false, true, false, 3);
    FailingDevice device = new FailingDevice();
    AtomicInteger result = new AtomicInteger(-1);
    try (Requests k = new Requests(dir, options)) {
      KernelSession session = new KernelSession(options, k.handler, Posix.get(), device, -1);
      Thread loop = new Thread(() -> result.set(session.runLoop()), "test-loop");
      device.loopThread.set(loop);
      loop.start();
      device.failed.await();
      while (loop.getState() != Thread.State.WAITING && loop.isAlive()) {
        Thread.onSpinWait(); // until it waits (for the other workers) or has ended
      }
      assertThat(loop.isAlive()).as("the loop waits for the workers still serving").isTrue();

      device.unmounted.countDown();
      loop.join();
      assertThat(result.get()).as("ended after the unmount, the failure counted").isEqualTo(1);
    }
  }

  /** Delivers {@code requests} in turn, takes every reply, then reads ENODEV. */
  private static final class ScriptedDevice extends FakeDevice {
    private final Deque<byte[]> requests;

    ScriptedDevice(List<byte[]> requests) {
      this.requests = new ArrayDeque<>(requests);
    }

    @Override
    public synchronized long read(int fd, Pointer buf, long count) {
      byte[] next = requests.poll();
      if (next == null) {
        return fail(ENODEV);
      }
      buf.put(0, next, 0, next.length);
      return next.length;
    }

    @Override
    public long write(int fd, Pointer buf, long count) {
      return count;
    }
  }

  @Test
  void everyAnsweredRequestIsObservedAsItsOperation() throws Exception {
    KernelOptions options = new KernelOptions(dir, "test", false, true, false, 1);
    try (Requests k = new Requests(dir, options)) {
      long fh =
          k.send(FuseAbi.CREATE, 1, Requests.create("vm.img", 2)).u64(FuseAbi.ENTRY_OUT_BYTES);
      List<byte[]> requests =
          List.of(
              Requests.request(FuseAbi.WRITE, 2, 2, Requests.write(fh, 0, new byte[4096]).bytes()),
              Requests.request(FuseAbi.WRITE, 3, 2, Requests.write(fh, 4096, new byte[1]).bytes()),
              Requests.request(FuseAbi.GETATTR, 4, 1, Requests.getattr().bytes()),
              Requests.request(999, 5, 1, new byte[0]));
      List<FuseOperation> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
      KernelSession session =
          new KernelSession(
              options,
              k.handler,
              Posix.get(),
              new ScriptedDevice(requests),
              -1,
              (op, nanos) -> {
                assertThat(nanos).isNotNegative();
                seen.add(op);
              });
      assertThat(session.runLoop()).isZero();
      assertThat(seen)
          .containsExactly(
              FuseOperation.WRITE, FuseOperation.WRITE, FuseOperation.GETATTR, FuseOperation.OTHER);
    }
  }

  @Test
  void anOpenWhoseReplyTheKernelRefusesIsReleased() throws Exception {
    KernelOptions options = new KernelOptions(dir, "test", false, true, false, 1);
    Files.write(dir.resolve("a.img"), new byte[1]);
    try (Requests k = new Requests(dir, options)) {
      List<byte[]> requests =
          List.of(
              Requests.request(FuseAbi.LOOKUP, 1, 1, Requests.args().name("a.img").bytes()),
              Requests.request(FuseAbi.CREATE, 2, 1, Requests.create("b.img", 2).bytes()));
      KernelSession session =
          new KernelSession(options, k.handler, Posix.get(), new InterruptedCallers(requests), -1);
      assertThat(session.runLoop()).isZero();
      assertThat(k.fs.openCount()).as("the created image's handle").isZero();
      assertThat(k.handler.nodes().size()).as("no lookup the kernel never got").isZero();
    }
  }
}
