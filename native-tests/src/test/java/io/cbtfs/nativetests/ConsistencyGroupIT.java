package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consistency groups through a real mount, on both FUSE transports: a writer writes a counter k to
 * image A, then, once that write is acknowledged, k to image B, then the next k (and some other
 * blocks of both, so that the syncs have work and the fleeces copy). Replicas of one instant show
 * {@code B <= A <= B + 1}: B's k is written only after A's k was acknowledged, and A's k + 1 only
 * after B's k. {@code cbtfs sync A TA --with B TB} must hold that in every round; two syncs of one
 * image each, taken one after the other, do not (B runs ahead).
 */
class ConsistencyGroupIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE = 16 << 20;

  @TempDir Path tmp;
  DaemonMount mount;
  Writer writer;

  @AfterEach
  void tearDown() throws Exception {
    if (writer != null) {
      writer.stop();
    }
    if (mount != null) {
      mount.close();
    }
  }

  /** Writes k to A, then k to B, k = 1, 2, ... through the mount, from this JVM's thread. */
  private static final class Writer {
    final AtomicLong written = new AtomicLong();
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final Thread thread;

    Writer(Path a, Path b) {
      thread =
          new Thread(
              () -> {
                try (FileChannel ca = FileChannel.open(a, StandardOpenOption.WRITE);
                    FileChannel cb = FileChannel.open(b, StandardOpenOption.WRITE)) {
                  for (long k = 1; !stop.get(); k++) {
                    long other = (long) BLOCK * (1 + k % (IMAGE / BLOCK - 1));
                    put(ca, 0, k);
                    put(ca, other, k);
                    put(cb, 0, k); // only once A's k was acknowledged
                    put(cb, other, k);
                    synchronized (written) {
                      written.set(k);
                      written.notifyAll(); // awaitPast
                    }
                  }
                } catch (Throwable e) {
                  failure.set(e);
                  synchronized (written) {
                    written.notifyAll();
                  }
                }
              },
              "group-writer");
      thread.start();
    }

    private static void put(FileChannel ch, long offset, long k) throws IOException {
      ByteBuffer data = ByteBuffer.allocate(4096);
      while (data.hasRemaining()) {
        data.putLong(k);
      }
      data.flip();
      while (data.hasRemaining()) {
        ch.write(data, offset + data.position());
      }
    }

    /** Waits, woken by each round the writer completes, until {@code count} more are done. */
    void awaitPast(long count) throws InterruptedException {
      long target = written.get() + count;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      synchronized (written) {
        while (written.get() < target && failure.get() == null) {
          long left = deadline - System.nanoTime();
          assertThat(left).as("%d writes within 60 s", count).isPositive();
          TimeUnit.NANOSECONDS.timedWait(written, left);
        }
      }
      assertThat(failure.get()).isNull();
    }

    void stop() throws InterruptedException {
      stop.set(true);
      thread.join(TimeUnit.SECONDS.toMillis(60));
      assertThat(thread.isAlive()).isFalse();
    }
  }

  private static long counter(Path replica) throws IOException {
    try (FileChannel ch = FileChannel.open(replica, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(8);
      ch.read(b, 0);
      return b.flip().getLong();
    }
  }

  @ParameterizedTest(name = "transport {0}")
  @ValueSource(strings = {"kernel", "libfuse2"})
  void aGroupSyncHoldsBothImagesAtOneInstantAndTwoSyncsDoNot(String transport) throws Exception {
    mount = DaemonMount.prepare(tmp);
    for (String name : new String[] {"a.img", "b.img"}) {
      Files.write(mount.backingFile(name), new byte[IMAGE]);
    }
    mount.mount("--transport", transport);
    Path a = mount.image("a.img");
    Path b = mount.image("b.img");
    Path ra = tmp.resolve("ra.img");
    Path rb = tmp.resolve("rb.img");
    String[] group = {"sync", a.toString(), "file:" + ra, "--with", b.toString(), "file:" + rb};
    Tools.Result first = Cbtfs.run(group);
    assertThat(first.exitCode()).as(first.output()).isZero();
    writer = new Writer(a, b);

    long lastA = 0;
    for (int round = 0; round < 4; round++) {
      writer.awaitPast(50);
      Tools.Result sync = Cbtfs.run(group);
      assertThat(sync.exitCode()).as(sync.output()).isZero();
      long atA = counter(ra);
      long atB = counter(rb);
      assertThat(atB).as("round %d: B's counter", round).isLessThanOrEqualTo(atA);
      assertThat(atA).as("round %d: A's counter", round).isLessThanOrEqualTo(atB + 1);
      assertThat(atA).as("round %d: the instant moved on", round).isGreaterThan(lastA);
      lastA = atA;
    }

    // The oracle sees what it guards against: one image, then the other, each its own instant
    Path sa = tmp.resolve("sa.img");
    Path sb = tmp.resolve("sb.img");
    int apart = 0;
    for (int round = 0; round < 3; round++) {
      writer.awaitPast(50);
      assertThat(Cbtfs.run("sync", a.toString(), "file:" + sa).exitCode()).isZero();
      assertThat(Cbtfs.run("sync", b.toString(), "file:" + sb).exitCode()).isZero();
      if (counter(sb) > counter(sa) + 1) {
        apart++;
      }
    }
    assertThat(apart).as("rounds where two single syncs show B ahead of A").isPositive();

    writer.stop();
    assertThat(writer.failure.get()).isNull();
    Tools.Result last = Cbtfs.run(group);
    assertThat(last.exitCode()).as(last.output()).isZero();
    assertThat(Files.mismatch(mount.backingFile("a.img"), ra)).isEqualTo(-1L);
    assertThat(Files.mismatch(mount.backingFile("b.img"), rb)).isEqualTo(-1L);
  }
}
