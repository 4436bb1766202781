package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The control socket end to end over a real Unix socket, with the mount's work faked. */
class ControlServerTest {
  private static final Duration TEST_TIMEOUT = Duration.ofSeconds(20);

  @TempDir Path tmp;
  final List<ControlRequest<?>> received = new CopyOnWriteArrayList<>();
  final List<ControlServer> servers = new ArrayList<>();
  final List<SocketChannel> raw = new ArrayList<>();

  /** Echoes each request back in its reply; records what it was asked. */
  final MountService echo =
      new FakeMount() {
        @Override
        public ImageStatus status(String name) {
          received.add(new ControlRequest.Status(name));
          return new ImageStatus(
              name, 1, 4096, 0, 0, 0, "", "mounted", true, "", false, null, "kernel");
        }

        @Override
        public SyncReport sync(
            String name,
            TargetAddress target,
            boolean full,
            SnapshotOption snapshot,
            SyncProgress progress) {
          received.add(new ControlRequest.Sync(name, target, full, snapshot));
          // the name comes back in the warning, so that it crosses the socket both ways
          return new SyncReport(target.uri(), 1, full, 0, 0, 0, 0, 0, 0, name);
        }

        @Override
        public void forget(String name, String target) {
          received.add(new ControlRequest.Forget(name, target));
        }
      };

  /** A mount whose requests the test defines; by default it serves nothing. */
  abstract static class FakeMount implements MountService {
    @Override
    public ImageStatus status(String name) throws IOException {
      throw new UnsupportedOperationException("no status here");
    }

    @Override
    public SyncReport sync(
        String name,
        TargetAddress target,
        boolean full,
        SnapshotOption snapshot,
        SyncProgress progress)
        throws IOException {
      throw new UnsupportedOperationException("no sync here");
    }

    @Override
    public GroupReport syncGroup(
        List<ControlRequest.GroupMember> members,
        boolean full,
        SnapshotOption snapshot,
        SyncProgress progress)
        throws IOException {
      throw new UnsupportedOperationException("no group sync here");
    }

    @Override
    public void forget(String name, String target) throws IOException {
      throw new UnsupportedOperationException("no forget here");
    }

    @Override
    public DirtyCells cells(String name, String target, int maxCells) throws IOException {
      throw new UnsupportedOperationException("no map here");
    }

    @Override
    public BackupReport beginBackup(String name, String backup, FleeceLimit limit)
        throws IOException {
      throw new UnsupportedOperationException("no backup here");
    }

    @Override
    public BackupReport endBackup(String name, String backup, boolean abort) throws IOException {
      throw new UnsupportedOperationException("no backup here");
    }

    @Override
    public void stop() {
      throw new UnsupportedOperationException("no stop here");
    }
  }

  /** The body of a fake sync. */
  interface SyncBody {
    SyncReport run(SyncProgress progress) throws IOException;
  }

  /** A mount whose every sync runs {@code body}. */
  static MountService syncing(SyncBody body) {
    return new FakeMount() {
      @Override
      public SyncReport sync(
          String name,
          TargetAddress target,
          boolean full,
          SnapshotOption snapshot,
          SyncProgress progress)
          throws IOException {
        return body.run(progress);
      }
    };
  }

  static ControlRequest.Sync sync(String name, String target, boolean full) {
    return new ControlRequest.Sync(name, new TargetAddress(target), full);
  }

  static ControlRequest.Status status(String name) {
    return new ControlRequest.Status(name);
  }

  @AfterEach
  void closeAll() throws IOException {
    for (SocketChannel c : raw) {
      c.close();
    }
    servers.forEach(ControlServer::close);
  }

  private ControlServer start(MountService mount, ControlServer.Limits limits) throws IOException {
    ControlServer s = ControlServer.start(socket(), mount, "someone", user -> true, limits);
    servers.add(s);
    return s;
  }

  private ControlServer start(MountService mount) throws IOException {
    return start(mount, ControlServer.Limits.DEFAULT);
  }

  private Path socket() {
    return ControlProtocol.socketPath(tmp);
  }

  private <R> R call(ControlRequest<R> r) throws IOException {
    return call(r, SyncProgress.NONE);
  }

  private <R> R call(ControlRequest<R> r, SyncProgress progress) throws IOException {
    return ControlClient.call(ControlClient.connect(tmp).orElseThrow(), r, progress);
  }

  /** A connection that sends nothing. */
  private SocketChannel idle() throws IOException {
    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
    c.connect(UnixDomainSocketAddress.of(socket()));
    raw.add(c);
    return c;
  }

  @Test
  void namesAndTargetsRoundTripWithEveryByteValue() throws IOException {
    start(echo);
    List<String> names = new ArrayList<>();
    for (char ch = 1; ch <= 0xff; ch++) {
      if (ch != '/') {
        names.add("a" + ch + "b");
      }
    }
    names.add("x\tfile:elsewhere.img\ttrue\nz");
    names.add("\u00e9t\u00e9 \u65e5\u672c \ud83d\udcbe.qcow2"); // 2-, 3- and 4-byte UTF-8
    names.add("n".repeat(ControlProtocol.MAX_NAME_BYTES));
    names.add("\u00e9".repeat(ControlProtocol.MAX_NAME_BYTES / 2)); // 254 bytes
    String longTarget = "file:/" + "d".repeat(250) + "/" + "p\t\n\r %?&=\u00e9".repeat(400);
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () -> {
          for (String name : names) {
            ImageStatus status = call(status(name));
            assertThat(status.image()).isEqualTo(name);
            SyncReport sync = call(sync(name, longTarget, true));
            assertThat(sync.warning()).isEqualTo(name);
            assertThat(sync.full()).isTrue();
            assertThat(sync.target()).isEqualTo(longTarget);
            call(new ControlRequest.Forget(name, longTarget));
          }
        });
    assertThat(received).hasSize(3 * names.size());
    for (int i = 0; i < names.size(); i++) {
      assertThat(received.subList(3 * i, 3 * i + 3))
          .containsExactly(
              status(names.get(i)),
              sync(names.get(i), longTarget, true),
              new ControlRequest.Forget(names.get(i), longTarget));
    }
  }

  /**
   * A group's request carries every image with its target, each a field; the client hears which
   * image ships before that image's progress, and the reply carries a report per committed image.
   */
  @Test
  void aGroupSyncRoundTripsItsImagesAndNamesTheImageShippingBeforeItsProgress() throws IOException {
    List<ControlRequest.GroupMember> members =
        List.of(
            new ControlRequest.GroupMember("a\tb.img", new TargetAddress("file:/r/a")),
            new ControlRequest.GroupMember("c.img", new TargetAddress("archive:/r/c")));
    List<ControlRequest.GroupMember> asked = new CopyOnWriteArrayList<>();
    List<CountDownLatch> heardProgress = List.of(new CountDownLatch(1), new CountDownLatch(1));
    start(
        new FakeMount() {
          @Override
          public GroupReport syncGroup(
              List<ControlRequest.GroupMember> group,
              boolean full,
              SnapshotOption snapshot,
              SyncProgress progress)
              throws IOException {
            asked.addAll(group);
            progress.drained();
            List<SyncReport> done = new ArrayList<>();
            for (int i = 0; i < group.size(); i++) {
              progress.member(i);
              progress.update(i + 1, 10, i + 1, 10);
              try { // the frames go while the request runs: the client hears this one first
                assertThat(heardProgress.get(i).await(10, TimeUnit.SECONDS)).isTrue();
              } catch (InterruptedException e) {
                throw new java.io.InterruptedIOException();
              }
              done.add(
                  new SyncReport(
                      group.get(i).target().uri(), 5 + i, full, 1, 1, 1, 1, 0, 0, "", -1, "w"));
            }
            return new GroupReport(done, "");
          }
        });
    List<String> heard = new CopyOnWriteArrayList<>();
    GroupReport report =
        assertTimeoutPreemptively(
            TEST_TIMEOUT,
            () ->
                call(
                    new ControlRequest.GroupSync(members, true, SnapshotOption.DEFAULT),
                    new SyncProgress() {
                      @Override
                      public void update(long doneBytes, long total, long blocks, long all) {
                        heard.add("progress " + doneBytes);
                        heardProgress.get((int) doneBytes - 1).countDown();
                      }

                      @Override
                      public void drained() {
                        heard.add("drained");
                      }

                      @Override
                      public void member(int index) {
                        heard.add("member " + index);
                      }
                    }));
    assertThat(asked).isEqualTo(members);
    assertThat(report.failure()).isEmpty();
    assertThat(report.committed())
        .extracting(SyncReport::target, SyncReport::generation)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("file:/r/a", 5L),
            org.assertj.core.groups.Tuple.tuple("archive:/r/c", 6L));
    assertThat(heard)
        .containsExactly("drained", "member 0", "progress 1", "member 1", "progress 2");
  }

  @Test
  void theInjectionNameIsOneNameNotAnotherRequest() throws IOException {
    start(echo);
    String name = "x\tfile:elsewhere.img\ttrue\nz";
    call(sync(name, "file:/backup/x.img", false));
    assertThat(received).containsExactly(sync(name, "file:/backup/x.img", false));
  }

  @Test
  void namesAndTargetsOverTheLimitsAreRefusedBeforeSending() throws IOException {
    start(echo);
    assertThatThrownBy(() -> call(status("n".repeat(256))))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessageContaining("256 bytes long; the control socket takes at most 255");
    assertThatThrownBy(
            () -> call(sync("n", "file:/" + "x".repeat(ControlProtocol.MAX_TARGET_BYTES), false)))
        .isInstanceOf(ControlProtocolException.class)
        .hasMessageContaining("at most " + ControlProtocol.MAX_TARGET_BYTES);
    assertThat(received).isEmpty();
  }

  @Test
  void garbageOversizeAndTruncatedRequestsGetAClearErrorAndDoNothing() throws IOException {
    start(echo);
    byte[] good = ControlProtocol.encode(sync("vm.img", "file:/r", false));
    byte[] oversize = good.clone();
    ByteBuffer.wrap(oversize).putInt(ControlProtocol.PREAMBLE.length + 1, 1 << 30);
    byte[] badUtf8 = good.clone();
    badUtf8[ControlProtocol.PREAMBLE.length + 5 + 2] = (byte) 0xff;
    byte[] unknownType = good.clone();
    unknownType[ControlProtocol.PREAMBLE.length] = 99;
    Map<byte[], String> cases = new LinkedHashMap<>();
    cases.put(oversize, "bad request: 1073741824 bytes long (limit");
    cases.put(badUtf8, "the image name is not valid UTF-8");
    cases.put(unknownType, "unknown type 99");
    cases.put(java.util.Arrays.copyOf(good, good.length - 3), "truncated request");
    cases.put(java.util.Arrays.copyOf(good, 3), "no request: the connection ended");
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () -> {
          for (Map.Entry<byte[], String> c : cases.entrySet()) {
            SocketChannel s = idle();
            s.write(ByteBuffer.wrap(c.getKey()));
            s.shutdownOutput(); // a truncated request ends here
            ControlProtocol.Frame f = ControlProtocol.readReply(Channels.newInputStream(s));
            assertThat(f.type()).isEqualTo(ControlProtocol.ERR);
            assertThat(ControlProtocol.message(f)).contains(c.getValue());
          }
        });
    assertThat(received).as("nothing was done").isEmpty();
  }

  @Test
  void anOlderClientGetsALineItCanPrint() throws IOException {
    start(echo);
    SocketChannel old = idle();
    old.write(ByteBuffer.wrap("STATUS vm.img\n".getBytes(StandardCharsets.UTF_8)));
    // an older client reads one line, as this does
    String reply =
        assertTimeoutPreemptively(
            TEST_TIMEOUT,
            () ->
                new java.io.BufferedReader(
                        new java.io.InputStreamReader(
                            Channels.newInputStream(old), StandardCharsets.UTF_8))
                    .readLine());
    assertThat(reply)
        .isEqualTo(
            "ERR not a cbtfs control request (protocol 2): use the cbtfs of this mount's version");
    assertThat(received).isEmpty();
  }

  @Test
  void aMountOfAnOlderCbtfsIsNamedAsSuch() throws IOException {
    try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      old.bind(UnixDomainSocketAddress.of(socket()));
      Thread answer =
          new Thread(
              () -> {
                try (SocketChannel c = old.accept()) {
                  c.write(ByteBuffer.wrap("ERR unknown request 'CBTFS/2'\n".getBytes()));
                } catch (IOException e) {
                  throw new AssertionError(e);
                }
              });
      answer.start();
      assertThatThrownBy(() -> call(status("vm.img")))
          .isInstanceOf(ControlProtocolException.class)
          .hasMessageContaining("older cbtfs");
      Threads.join(answer);
    }
  }

  @Test
  void idleConnectionsDoNotHoldUpStatus() throws IOException {
    start(echo); // 8 connections, 10 s for a request
    for (int i = 0; i < 7; i++) {
      idle();
    }
    assertTimeoutPreemptively(Duration.ofSeconds(5), () -> call(status("vm.img")));
    assertThat(received).containsExactly(status("vm.img"));
  }

  @Test
  void beyondTheLimitTheAnswerIsBusyAndIdleConnectionsAreDroppedAtTheirDeadline()
      throws IOException {
    start(
        echo,
        new ControlServer.Limits(
            2, Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(5)));
    SocketChannel a = idle();
    SocketChannel b = idle();
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () -> {
          // the acceptor takes connections in order: a and b hold both slots once it has b
          assertThatThrownBy(() -> call(status("vm.img")))
              .isInstanceOf(CbtfsException.class)
              .hasMessage(
                  "busy: 2 control requests are in progress on this mount; try again later");
          for (SocketChannel idle : List.of(a, b)) {
            ControlProtocol.Frame f = ControlProtocol.readReply(Channels.newInputStream(idle));
            assertThat(ControlProtocol.message(f)).isEqualTo("no request within 2 s");
            assertThat(Channels.newInputStream(idle).read()).isEqualTo(-1);
          }
          while (true) { // the slots are released right after the connections closed
            try {
              call(status("vm.img"));
              break;
            } catch (CbtfsException busy) {
              assertThat(busy).hasMessageStartingWith("busy");
              Thread.onSpinWait();
            }
          }
        });
    assertThat(received).containsExactly(status("vm.img"));
  }

  @Test
  void aRefusedUserIsToldPermissionDenied() throws IOException {
    servers.add(
        ControlServer.start(
            socket(), echo, "vmadmin", user -> false, ControlServer.Limits.DEFAULT));
    assertThatThrownBy(() -> call(status("vm.img")))
        .isInstanceOf(CbtfsException.class)
        .hasMessage("permission denied: only root or vmadmin may control this mount");
    assertThat(received).isEmpty();
  }

  @Test
  void errorsComeBackAsOneLine() throws IOException {
    start(
        new FakeMount() {
          @Override
          public ImageStatus status(String name) {
            throw new CbtfsException("no image named '" + name + "'");
          }
        });
    assertThatThrownBy(() -> call(status("x\tfile:e\ttrue\nz")))
        .isInstanceOf(CbtfsException.class)
        .hasMessage("no image named 'x\\tfile:e\\ttrue\\nz'");
  }

  @Test
  void aLongSilentRequestKeepsTheClientWaitingWithAlive() throws IOException {
    CountDownLatch release = new CountDownLatch(1);
    start(
        syncing(
            progress -> {
              Threads.await(release);
              return new SyncReport("done", 7, false, 0, 0, 0, 0, 0, 0, "");
            }),
        new ControlServer.Limits(
            8, Duration.ofSeconds(10), Duration.ofMillis(20), Duration.ofSeconds(5)));
    SocketChannel c = idle();
    c.write(ByteBuffer.wrap(ControlProtocol.encode(sync("vm.img", "file:/r", false))));
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () -> {
          for (int alive = 0; alive < 3; ) {
            ControlProtocol.Frame f = ControlProtocol.readReply(Channels.newInputStream(c));
            assertThat(f.type()).isEqualTo(ControlProtocol.ALIVE);
            alive++;
          }
          release.countDown();
          ControlProtocol.Frame f;
          do {
            f = ControlProtocol.readReply(Channels.newInputStream(c));
          } while (f.type() == ControlProtocol.ALIVE);
          assertThat(f.type()).isEqualTo(ControlProtocol.FIELD);
          assertThat(ControlProtocol.keyValue(f)).containsExactly("target", "done");
          while (f.type() != ControlProtocol.OK) {
            f = ControlProtocol.readReply(Channels.newInputStream(c));
            assertThat(f.type()).isIn(ControlProtocol.FIELD, ControlProtocol.OK);
          }
        });
  }

  @Test
  void theClientHearsOfTheDrainWhileTheSyncStillRuns() throws IOException {
    CountDownLatch heard = new CountDownLatch(1);
    start(
        syncing(
            progress -> {
              progress.drained();
              Threads.await(heard); // the sync goes on only once the client knows
              progress.update(1, 1, 1, 1);
              return new SyncReport("file:/r", 1, false, 0, 0, 0, 0, 0, 0, "");
            }));
    List<String> events = new ArrayList<>();
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () ->
            call(
                sync("vm.img", "file:/r", false),
                new SyncProgress() {
                  @Override
                  public void update(long a, long b, long c, long d) {
                    events.add("progress");
                  }

                  @Override
                  public void drained() {
                    events.add("drained");
                    heard.countDown();
                  }
                }));
    assertThat(events).startsWith("drained").containsOnlyOnce("drained");
  }

  @Test
  void aClientThatDoesNotReadNeverStallsTheSync() throws IOException {
    int updates = 200_000;
    CountDownLatch finished = new CountDownLatch(1);
    start(
        syncing(
            progress -> {
              for (int i = 1; i <= updates; i++) {
                progress.update(i, updates, i, updates);
              }
              finished.countDown();
              return new SyncReport("file:/r", 1, false, 0, 0, 0, 0, 0, 0, "");
            }));
    SocketChannel c = idle();
    c.write(ByteBuffer.wrap(ControlProtocol.encode(sync("vm.img", "file:/r", false))));
    List<Long> seen = new ArrayList<>();
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () -> {
          Threads.await(finished); // while this client reads nothing
          ControlProtocol.Frame f;
          while ((f = ControlProtocol.readReply(Channels.newInputStream(c))).type()
              != ControlProtocol.OK) {
            if (f.type() == ControlProtocol.PROGRESS) {
              seen.add(ControlProtocol.progress(f)[0]);
            }
          }
        });
    assertThat(seen).isSorted().hasSizeLessThan(updates);
  }

  @Test
  void aClientThatGoesAwayCancelsItsSync() throws IOException {
    for (boolean halfClose : new boolean[] {true, false}) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch stopped = new CountDownLatch(1);
      List<Throwable> thrown = new CopyOnWriteArrayList<>();
      ControlServer server =
          start(
              syncing(
                  progress -> {
                    try {
                      for (long i = 0; ; i++) {
                        progress.update(i, Long.MAX_VALUE, i, Long.MAX_VALUE);
                        started.countDown();
                      }
                    } catch (InterruptedIOException e) {
                      thrown.add(e);
                      throw e;
                    } finally {
                      stopped.countDown();
                    }
                  }));
      SocketChannel c = idle();
      c.write(ByteBuffer.wrap(ControlProtocol.encode(sync("vm.img", "file:/r", false))));
      assertTimeoutPreemptively(
          TEST_TIMEOUT,
          () -> {
            Threads.await(started);
            if (halfClose) {
              c.shutdownOutput(); // what Ctrl-C of cbtfs sync does: the answer still arrives
              ControlProtocol.Frame f;
              do {
                f = ControlProtocol.readReply(Channels.newInputStream(c));
              } while (f.type() == ControlProtocol.PROGRESS || f.type() == ControlProtocol.ALIVE);
              assertThat(f.type()).isEqualTo(ControlProtocol.ERR);
              assertThat(ControlProtocol.message(f))
                  .isEqualTo("sync cancelled: the cbtfs sync that asked for it went away");
            } else {
              c.close(); // killed
            }
            Threads.await(stopped);
          });
      assertThat(thrown).hasSize(1);
      server.close();
      servers.remove(server);
    }
  }

  @Test
  void closingTheServerCancelsARunningSync() throws IOException {
    CountDownLatch started = new CountDownLatch(1);
    ControlServer server =
        start(
            syncing(
                progress -> {
                  for (long i = 0; ; i++) {
                    progress.update(i, Long.MAX_VALUE, i, Long.MAX_VALUE);
                    started.countDown();
                  }
                }));
    Thread closer =
        new Thread(
            () -> {
              Threads.await(started);
              server.close();
            });
    closer.start();
    assertTimeoutPreemptively(
        TEST_TIMEOUT,
        () ->
            assertThatThrownBy(() -> call(sync("vm.img", "file:/r", false)))
                .hasMessage("sync cancelled: the mount is shutting down"));
    Threads.join(closer);
  }

  /** Waits without a checked exception, for threads of the test. */
  static final class Threads {
    static void await(CountDownLatch latch) {
      try {
        if (!latch.await(TEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
          throw new AssertionError("timed out");
        }
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }

    static void join(Thread t) {
      try {
        t.join(TEST_TIMEOUT.toMillis());
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }
}
