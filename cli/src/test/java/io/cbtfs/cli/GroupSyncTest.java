package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs sync IMAGE TARGET --with IMAGE2 TARGET2} through a real control socket to the
 * mount's sync host (no FUSE): both images synced, one report each; what is refused as a usage
 * error; and a member that fails named in one line with what did and did not sync.
 */
class GroupSyncTest {
  private static final int BLOCK = 65536;
  private static final long SIZE = 32L * BLOCK;

  @TempDir Path tmp;
  Path a;
  Path b;
  Path stateDir;
  ImageFiles files;
  TrackerStore store;
  ControlServer server;

  @BeforeEach
  void images() throws IOException {
    Random random = new Random(19);
    a = tmp.resolve("a.img");
    b = tmp.resolve("b.img");
    for (Path p : List.of(a, b)) {
      byte[] bytes = new byte[(int) SIZE];
      random.nextBytes(bytes);
      Files.write(p, bytes);
    }
    stateDir = tmp.resolve(".cbtfs");
    files = new ImageFiles(tmp, stateDir);
  }

  @AfterEach
  void close() throws IOException {
    if (server != null) {
      server.close();
    }
    if (store != null) {
      store.close();
    }
  }

  /** Serves the images' tracking through the control socket, as a mount does. */
  private void mount() throws IOException {
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(BlockGeometry.of(BLOCK)));
    SyncHost host =
        new SyncHost(
            store, files, stateDir, null, 1, TrackingOptions.Cursors.DEFAULT, SyncObserver.NONE);
    server = HostMount.serve(stateDir, new HostMount(host));
  }

  /** A write as the mount makes it: tracked around the backing write. */
  private void write(Path image, long offset, byte value) throws IOException {
    TrackedImage t =
        store.image(
            image.getFileName().toString(),
            () -> files.fingerprint(image.getFileName().toString()));
    t.beforeWrite(offset, 4096);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ByteBuffer data = ByteBuffer.allocate(4096);
      while (data.hasRemaining()) {
        data.put(value);
      }
      data.flip();
      ch.write(data, offset);
    } finally {
      t.afterWrite(offset, 4096);
    }
  }

  @Test
  void bothImagesSyncAndEachHasItsReport() throws IOException {
    mount();
    Path ra = tmp.resolve("replicas/a.img");
    Path rb = tmp.resolve("replicas/b.img");
    Files.createDirectories(ra.getParent());
    CliRun first =
        CliRun.of("sync", a.toString(), "file:" + ra, "--with", b.toString(), "file:" + rb);
    assertThat(first.exitCode()).as(first.err()).isZero();
    assertThat(first.out().lines().filter(l -> l.startsWith("synced ")))
        .satisfiesExactly(
            l -> assertThat(l).startsWith("synced " + a + " to file:" + ra + ": generation "),
            l -> assertThat(l).startsWith("synced " + b + " to file:" + rb + ": generation "));
    write(a, 3 * BLOCK, (byte) 1);
    write(b, 7 * BLOCK, (byte) 2);

    CliRun json =
        CliRun.of(
            "sync", "--json", a.toString(), "file:" + ra, "--with", b.toString(), "file:" + rb);

    assertThat(json.exitCode()).as(json.err()).isZero();
    assertThat(json.out().strip())
        .startsWith("[{\"image\":" + Json.quote(a.toString()) + ",\"target\":")
        .contains("},{\"image\":" + Json.quote(b.toString()) + ",\"target\":")
        .contains("\"blocks\":1,")
        .endsWith("}]");
    assertThat(Files.mismatch(a, ra)).isEqualTo(-1L);
    assertThat(Files.mismatch(b, rb)).isEqualTo(-1L);
  }

  @Test
  void aMemberThatFailsIsNamedInOneLineAndTheOnesBeforeItStayCommitted() throws IOException {
    mount();
    Path ra = tmp.resolve("ra.img");
    Path foreign = tmp.resolve("not-a-replica.img");
    Files.write(foreign, new byte[4096]);

    CliRun run =
        CliRun.of("sync", a.toString(), "file:" + ra, "--with", b.toString(), "file:" + foreign);

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err().strip().lines()).as(run.err()).hasSize(1);
    assertThat(run.err())
        .startsWith("cbtfs sync: b.img: " + foreign + " exists and is not a cbtfs replica")
        .endsWith(
            "; not synced: "
                + b
                + " (their targets keep their generations, their blocks stay dirty); synced at"
                + " the group's instant: "
                + a
                + System.lineSeparator());
    assertThat(Files.mismatch(a, ra)).isEqualTo(-1L);
    assertThat(Files.readAllBytes(foreign)).as("b's target as it was").isEqualTo(new byte[4096]);
  }

  @Test
  void aGroupOutsideOneRunningMountIsAUsageError() throws IOException {
    Path ra = tmp.resolve("ra.img");
    Path rb = tmp.resolve("rb.img");
    CliRun noMount =
        CliRun.of("sync", a.toString(), "file:" + ra, "--with", b.toString(), "file:" + rb);
    assertThat(noMount.exitCode()).isEqualTo(2);
    assertThat(noMount.err().strip())
        .isEqualTo(
            "cbtfs sync: no cbtfs mount serves "
                + a
                + ": a consistency group syncs in a running mount (its images drain at one instant"
                + " only while it tracks their writes)");

    mount();
    Path elsewhere = Files.createDirectory(tmp.resolve("other")).resolve("c.img");
    Files.write(elsewhere, new byte[4096]);
    CliRun twoMounts =
        CliRun.of("sync", a.toString(), "file:" + ra, "--with", elsewhere.toString(), "file:" + rb);
    assertThat(twoMounts.exitCode()).isEqualTo(2);
    assertThat(twoMounts.err().strip())
        .isEqualTo(
            "cbtfs sync: "
                + a
                + " and "
                + elsewhere
                + " are not in one cbtfs mount: a consistency group is the images of one mount");

    CliRun twice =
        CliRun.of("sync", a.toString(), "file:" + ra, "--with", a.toString(), "file:" + rb);
    assertThat(twice.exitCode()).isEqualTo(2);
    assertThat(twice.err().strip()).isEqualTo("cbtfs sync: " + a + " is twice in the group");

    CliRun fuzzy =
        CliRun.of(
            "sync",
            "--no-snapshot",
            a.toString(),
            "file:" + ra,
            "--with",
            b.toString(),
            "file:" + rb);
    assertThat(fuzzy.exitCode()).isEqualTo(2);
    assertThat(fuzzy.err()).contains("--with makes a consistency group, which is point-in-time");
    assertThat(ra).doesNotExist();
    assertThat(rb).doesNotExist();
  }

  /** What the client prints when the mount says one member failed after another committed. */
  @Test
  void aFailureAfterACommitSaysWhichSyncedAndWhichDidNot() throws IOException {
    SyncReport committed =
        new SyncReport("file:/r/a.img", 7, false, 1, BLOCK, 100, 1, 0, 0.1, "", 6, "why");
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(BlockGeometry.of(BLOCK)));
    server =
        HostMount.serve(
            stateDir,
            new ControlServerTest.FakeMount() {
              @Override
              public GroupReport syncGroup(
                  List<ControlRequest.GroupMember> members,
                  boolean full,
                  SnapshotOption snapshot,
                  SyncProgress progress) {
                assertThat(members)
                    .extracting(ControlRequest.GroupMember::imageName)
                    .containsExactly("a.img", "b.img");
                return new GroupReport(List.of(committed), "b.img: the target's disk is full");
              }
            });

    CliRun run =
        CliRun.of("sync", a.toString(), "file:/r/a.img", "--with", b.toString(), "file:/r/b.img");

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.out()).startsWith("synced " + a + " to file:/r/a.img: generation 7");
    assertThat(run.err().strip())
        .isEqualTo(
            "cbtfs sync: b.img: the target's disk is full; not synced: "
                + b
                + " (their targets keep their generations, their blocks stay dirty); synced at"
                + " the group's instant: "
                + a);
  }
}
