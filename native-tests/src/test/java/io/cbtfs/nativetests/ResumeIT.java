package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resume of a cbtfs:// transfer after a kill -9 of the receiver, and of the sender (the mount that
 * runs the sync), part way through a full sync: the next sync sends the remainder only (plus one
 * window), a block written in between still travels, and the replica equals the image at the
 * resumed sync's drain. The transfer goes through a proxy that forwards at a bounded rate, so that
 * the kill lands in the middle whatever the machine's speed.
 */
class ResumeIT {
  private static final long IMAGE_BYTES = 96L << 20;

  /** Lost at a kill: the receiver's unwritten keep buffer (1 MiB), a record, the frame buffer. */
  private static final long WINDOW = 4L << 20;

  @TempDir Path tmp;
  DaemonMount folder;
  Path root;
  ReceiverProcess receiver;
  Throttle throttle;

  @BeforeEach
  void setUp() throws Exception {
    folder = DaemonMount.prepare(tmp);
    root = Files.createDirectory(tmp.resolve("receiver"));
    receiver = ReceiverProcess.init(root);
    throttle = new Throttle(receiver.port, 48L << 20);
    Tools.run(
        "an image of random bytes",
        "dd",
        "if=/dev/urandom",
        "of=" + folder.backingFile("vm.raw"),
        "bs=1M",
        "count=" + (IMAGE_BYTES >> 20),
        "status=none");
  }

  @AfterEach
  void tearDown() throws IOException, InterruptedException {
    throttle.close();
    receiver.close();
    folder.close();
  }

  private String uri() {
    return receiver.uri(throttle.port(), "vm1");
  }

  private Path part() {
    return root.resolve(".vm1.img.cbtfs-resume.part");
  }

  private Path kept() {
    return root.resolve(".vm1.img.cbtfs-resume");
  }

  /** Starts the full sync and waits until the receiver has kept a third of the image. */
  private Process syncUntilAThirdIsKept() throws IOException {
    Process sync =
        new ProcessBuilder(Cbtfs.command("sync", folder.image("vm.raw").toString(), uri()))
            .redirectErrorStream(true)
            .start();
    while (sync.isAlive() && (!Files.exists(part()) || Files.size(part()) < IMAGE_BYTES / 3)) {
      LockSupport.parkNanos(1_000_000); // poll: until a third of the delta has arrived
    }
    assertThat(sync.isAlive()).as("the sync still runs at a third").isTrue();
    return sync;
  }

  private static String output(Process p) throws Exception {
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return out;
  }

  /** Writes 64 KiB of random bytes through the mount at {@code offset}. */
  private void writeThroughTheMount(long offset) {
    Tools.run(
        "dd through the mount",
        "dd",
        "if=/dev/urandom",
        "of=" + folder.image("vm.raw"),
        "bs=64K",
        "count=1",
        "seek=" + offset / 65536,
        "conv=notrunc",
        "status=none");
  }

  /**
   * After the kill of the {@code killed}, which left {@code keptBytes} kept: a block written inside
   * what was kept (it must travel again) and one past it, then the resumed sync, which exits 0,
   * sends the remainder only (plus one window) and leaves the replica equal to the image.
   */
  private void writeAndResume(String killed, long keptBytes) throws IOException {
    writeThroughTheMount(1 << 20);
    writeThroughTheMount(IMAGE_BYTES - (1 << 20));
    Tools.Result again = Cbtfs.run("sync", "--json", folder.image("vm.raw").toString(), uri());
    assertThat(again.exitCode()).as(again.output()).isZero();
    Matcher wire = Pattern.compile("\"wireBytes\":(\\d+)").matcher(again.output());
    assertThat(wire.find()).as(again.output()).isTrue();
    long sent = Long.parseLong(wire.group(1));
    System.out.printf(
        "resume after a kill -9 of the %s: %d of %d bytes kept, the resumed sync sent %d%n",
        killed, keptBytes, IMAGE_BYTES, sent);
    assertThat(sent)
        .as("resumed after %d of %d bytes kept", keptBytes, IMAGE_BYTES)
        .isLessThan(IMAGE_BYTES - keptBytes + WINDOW);
    assertThat(Files.mismatch(folder.backingFile("vm.raw"), root.resolve("vm1.img")))
        .isEqualTo(-1L);
  }

  @Test
  void aReceiverKilledMidTransferIsResumed() throws Exception {
    folder.mount();
    receiver.start();
    Process sync = syncUntilAThirdIsKept();
    receiver.kill();
    String out = output(sync);
    assertThat(sync.exitValue()).as(out).isEqualTo(1);
    long keptBytes = Files.size(part()); // what the killed receiver left
    receiver.start();
    writeAndResume("receiver", keptBytes);
    assertThat(part()).doesNotExist();
    assertThat(kept()).doesNotExist();
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
  }

  @Test
  void aSenderKilledMidTransferIsResumed() throws Exception {
    ProcessHandle mount = folder.mount();
    receiver.start();
    Process sync = syncUntilAThirdIsKept();
    mount.destroyForcibly();
    mount.onExit().get(30, TimeUnit.SECONDS);
    String out = output(sync);
    assertThat(sync.exitValue()).as(out).isNotZero();
    while (Files.exists(part())) {
      LockSupport.parkNanos(1_000_000); // poll: until the receiver saw the sender go
    }
    long keptBytes = Files.size(kept());
    if (ProcMounts.isMounted(folder.mnt)) {
      Tools.exec(List.of("fusermount", "-u", "-z", folder.mnt.toString()), 30);
    }
    folder.mount(); // recovers the tracking as after a crash
    writeAndResume("sender", keptBytes);
    assertThat(kept()).doesNotExist();
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
  }

  /** Forwards connections to the receiver at {@code bytesPerSecond} upstream. */
  static final class Throttle implements AutoCloseable {
    private final ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    private final long bytesPerSecond;

    Throttle(int target, long bytesPerSecond) throws IOException {
      this.bytesPerSecond = bytesPerSecond;
      Thread acceptor =
          new Thread(
              () -> {
                while (!server.isClosed()) {
                  try {
                    Socket client = server.accept();
                    Socket up = new Socket(InetAddress.getLoopbackAddress(), target);
                    start(() -> pump(up, client, Long.MAX_VALUE));
                    start(() -> pump(client, up, this.bytesPerSecond));
                  } catch (IOException e) {
                    return;
                  }
                }
              });
      acceptor.setDaemon(true);
      acceptor.start();
    }

    private static void start(Runnable r) {
      Thread t = new Thread(r);
      t.setDaemon(true);
      t.start();
    }

    int port() {
      return server.getLocalPort();
    }

    /** Copies, never ahead of the rate: a rate limit, not a synchronisation. */
    private static void pump(Socket from, Socket to, long rate) {
      byte[] buf = new byte[64 << 10];
      long started = System.nanoTime();
      long sent = 0;
      try (from;
          to;
          InputStream in = from.getInputStream();
          OutputStream out = to.getOutputStream()) {
        int r;
        while ((r = in.read(buf)) > 0) {
          out.write(buf, 0, r);
          sent += r;
          long due = started + sent * 1_000_000_000L / rate;
          if (rate != Long.MAX_VALUE && due > System.nanoTime()) {
            LockSupport.parkNanos(due - System.nanoTime());
          }
        }
      } catch (IOException e) {
        // closed
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
  }
}
