package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.s3.S3Location;
import io.cbtfs.s3.S3Target;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The cursors of an image as the command line shows and drops them: {@code status} (from a mount
 * through its control socket, and offline from the saved state), {@code forget} (both ways), the
 * target names it canonicalises, {@code --cursor-max-age}, and the why of a sync.
 */
class CursorsTest {
  private static final int BLOCK = 65536;
  private static final long SIZE = 16L * BLOCK;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  @TempDir Path tmp;
  Path image;
  Path stateDir;
  ImageFiles files;
  final SettableClock clock = new SettableClock(T0);
  final TrackingOptions.Cursors policy = new TrackingOptions.Cursors(Duration.ofDays(30), clock);
  TrackerStore store;
  ControlServer server;

  /** A clock the test moves. */
  static final class SettableClock extends Clock {
    private volatile Instant now;

    SettableClock(Instant now) {
      this.now = now;
    }

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }

  @BeforeEach
  void image() throws IOException {
    image = tmp.resolve("disk.img");
    try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
      f.setLength(SIZE);
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

  private TrackedImage open() throws IOException {
    store =
        TrackerStore.open(
            stateDir, TrackingOptions.defaults(BlockGeometry.of(BLOCK)).withCursors(policy));
    return store.image("disk.img", () -> files.fingerprint("disk.img"));
  }

  private static void write(TrackedImage image, long... blocks) throws IOException {
    for (long b : blocks) {
      image.beforeWrite(b * BLOCK, 4096);
      image.afterWrite(b * BLOCK, 4096);
    }
  }

  /** What a sync of {@code target} that holds {@code held} does to the tracker, once it commits. */
  private static void synced(TrackedImage image, String target, long held) throws IOException {
    try (Drain d = image.beginSync(target, held)) {
      image.commit(d, SIZE);
    }
  }

  /** The state with every change saved clean, as an unmount leaves it. */
  private void unmount() throws IOException {
    if (server != null) {
      server.close();
      server = null;
    }
    store.closeClean(Map.of("disk.img", files.fingerprint("disk.img")));
    store = null;
  }

  /** Serves the store through the control socket, as a mount does (no FUSE: its host only). */
  private void mount() throws IOException {
    SyncHost host = new SyncHost(store, files, stateDir, null, 1, policy, SyncObserver.NONE);
    server = HostMount.serve(stateDir, new HostMount(host));
  }

  /**
   * Target a syncs at T0, target b 20 days later; 15 more days on, a is 35 days unused: stale (the
   * age is 30 days), and lacks what b's sync took besides the blocks written since.
   */
  private void twoCursorsOneStale() throws IOException {
    TrackedImage img = open();
    write(img, 0, 1);
    synced(img, "file:/a", -1); // generation 1
    write(img, 2);
    clock.advance(Duration.ofDays(20));
    synced(img, "file:/b", -1); // generation 2: a lacks block 2 from here
    write(img, 3, 4);
    clock.advance(Duration.ofDays(15));
  }

  private static final String A =
      "{\"target\":\"file:/a\",\"generation\":1,\"syncedAt\":\"2026-01-01T00:00:00Z\","
          + "\"lagBlocks\":3,\"lagBytes\":196608,\"secondsSinceSync\":3024000,"
          + "\"holdsHistory\":false}";
  private static final String B =
      "{\"target\":\"file:/b\",\"generation\":2,\"syncedAt\":\"2026-01-21T00:00:00Z\","
          + "\"lagBlocks\":2,\"lagBytes\":131072,\"secondsSinceSync\":1296000,"
          + "\"holdsHistory\":true}";

  @Test
  void statusListsEveryCursorThroughTheMount() throws IOException {
    twoCursorsOneStale();
    mount();
    CliRun r = CliRun.of("status", "--json", image.toString());
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("\"tracking\":\"mounted\"")
        .contains("\"dirtyBlocks\":3,\"dirtyBytes\":196608") // what a, furthest behind, lacks
        .contains("\"targets\":[" + A + "," + B + "]}");
    CliRun text = CliRun.of("status", image.toString());
    assertThat(text.out())
        .contains(
            "target       file:/a: generation 1, synced 2026-01-01T00:00:00Z (35 d ago), lacks 3"
                + " blocks, 192.0 KiB; stale: holds no history",
            "target       file:/b: generation 2, synced 2026-01-21T00:00:00Z (15 d ago), lacks 2"
                + " blocks, 128.0 KiB"
                + System.lineSeparator());
  }

  @Test
  void statusListsEveryCursorOffline() throws IOException {
    twoCursorsOneStale();
    unmount();
    ImageStatus status = StatusCommand.query(image, null, policy);
    assertThat(status.tracking()).isEqualTo("offline");
    assertThat(status.dirtyBlocks()).as("the live set and b's generation").isEqualTo(3);
    assertThat(status.toJson()).contains("\"targets\":[" + A + "," + B + "]}");
    // the command's own --cursor-max-age: a century keeps both (its clock is the system's)
    assertThat(CliRun.of("status", "--json", "--cursor-max-age", "36500d", image.toString()).out())
        .contains("\"target\":\"file:/a\"")
        .doesNotContain("\"holdsHistory\":false");
    assertThat(CliRun.of("status", "--json", "--cursor-max-age", "1d", image.toString()).out())
        .doesNotContain("\"holdsHistory\":true");
  }

  /** A change no dirty bit records: what each target lacks is unknown, its next sync compares. */
  @Test
  void statusSaysWhenATargetsLagIsUnknown() throws IOException {
    twoCursorsOneStale();
    store.loaded("disk.img").orElseThrow().requireVerifiedSync();
    unmount();
    ImageStatus status = StatusCommand.query(image, null, policy);
    assertThat(status.targets()).extracting(TargetStatus::lagBlocks).containsExactly(-1L, -1L);
    assertThat(status.toText())
        .contains(
            "file:/b: generation 2, synced 2026-01-21T00:00:00Z (15 d ago), lacks unknown:"
                + " next sync compares every block");
  }

  /** The cells of {@code status --map --json} for {@code dirty}, one block a cell (16 blocks). */
  private static String mapJson(String image, String target, long... dirty) {
    Long[] counts = new Long[16];
    java.util.Arrays.fill(counts, 0L);
    for (long b : dirty) {
      counts[(int) b] = 1L;
    }
    return new DirtyCells(target, SIZE, BLOCK, 1, dirty.length * (long) BLOCK, List.of(counts))
            .toJson(image)
        + System.lineSeparator();
  }

  /** The map of what the target furthest behind lacks, and of what each target lacks. */
  private void mapsShowWhatEachTargetLacks() {
    String img = image.toString();
    CliRun all = CliRun.of("status", "--map", "--json", "--width", "4", img);
    assertThat(all.exitCode()).as(all.err()).isZero();
    assertThat(all.out()).as("a lacks 2, 3, 4").isEqualTo(mapJson(img, "", 2, 3, 4));
    CliRun b = CliRun.of("status", "--map", "--json", "--target", "file:/b", img);
    assertThat(b.out()).as("b lacks 3, 4").isEqualTo(mapJson(img, "file:/b", 3, 4));
    CliRun text = CliRun.of("status", "--map", "--width", "4", "--target", "file:/a", img);
    assertThat(text.out())
        .as("not a terminal: ASCII")
        .contains(
            "dirty map    " + img + ": what file:/a lacks",
            "   0 B |  ##|" + System.lineSeparator() + "256.0 KiB |#   |");
    CliRun none = CliRun.of("status", "--map", "--target", "file:/c", img);
    assertThat(none.exitCode()).isEqualTo(1);
    assertThat(none.err())
        .isEqualTo(
            "cbtfs status: disk.img has no target file:/c; its targets: file:/a, file:/b"
                + System.lineSeparator());
  }

  @Test
  void theMapThroughTheMount() throws IOException {
    twoCursorsOneStale();
    mount();
    mapsShowWhatEachTargetLacks();
  }

  @Test
  void theMapOffline() throws IOException {
    twoCursorsOneStale();
    unmount();
    mapsShowWhatEachTargetLacks();
  }

  @Test
  void theMapOfATargetWhoseLackIsUnknownSaysSo() throws IOException {
    twoCursorsOneStale();
    store.loaded("disk.img").orElseThrow().requireVerifiedSync();
    mount();
    CliRun mounted = CliRun.of("status", "--map", "--target", "file:/b", image.toString());
    unmount();
    CliRun offline = CliRun.of("status", "--map", "--target", "file:/b", image.toString());
    for (CliRun r : List.of(mounted, offline)) {
      assertThat(r.exitCode()).isEqualTo(1);
      assertThat(r.err())
          .isEqualTo(
              "cbtfs status: what file:/b lacks is not known: its next sync compares every block"
                  + " with it"
                  + System.lineSeparator());
    }
  }

  @Test
  void mapOptionsWithoutTheMapAreAUsageError() {
    for (String[] args :
        List.of(
            new String[] {"status", "--target", "file:/a", image.toString()},
            new String[] {"status", "--ascii", image.toString()},
            new String[] {"status", "--map", "--width", "257", image.toString()},
            new String[] {"status", "--map", "--width", "0", image.toString()})) {
      CliRun r = CliRun.of(args);
      assertThat(r.exitCode()).as(String.join(" ", args)).isEqualTo(2);
    }
  }

  @Test
  void forgetThroughTheMount() throws IOException {
    twoCursorsOneStale();
    mount();
    CliRun r = CliRun.of("forget", image.toString(), "file:/a");
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("forgot file:/a for " + image + System.lineSeparator());
    assertThat(store.loaded("disk.img").orElseThrow().targets())
        .extracting(t -> t.cursor().target())
        .containsExactly("file:/b");
    CliRun again = CliRun.of("forget", image.toString(), "file:/a");
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err())
        .isEqualTo(
            "cbtfs forget: disk.img has no target file:/a; its targets: file:/b"
                + System.lineSeparator());
  }

  @Test
  void forgetOffline() throws IOException {
    twoCursorsOneStale();
    unmount();
    CliRun r = CliRun.of("forget", image.toString(), "file:/b");
    assertThat(r.exitCode()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("forgot file:/b for " + image + System.lineSeparator());
    ImageStatus status = StatusCommand.query(image, null, policy);
    assertThat(status.targets()).extracting(TargetStatus::target).containsExactly("file:/a");
    assertThat(status.clean()).as("saved clean again").isTrue();
    CliRun missing = CliRun.of("forget", image.toString(), "archive:/a");
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err().strip())
        .isEqualTo("cbtfs forget: disk.img has no target archive:/a; its targets: file:/a");
  }

  @Test
  void forgetOfAnUntrackedImageSaysSoAndMakesNothing() {
    CliRun r = CliRun.of("forget", image.toString(), "file:/a");
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).contains("is not tracked").hasLineCount(1);
    assertThat(stateDir).doesNotExist();
  }

  /**
   * A target is forgotten by any spelling that syncs it: relative to the working directory, with
   * {@code ..}, or with what the S3 options fold in.
   */
  @Test
  void forgetNamesTheTargetAsASyncDoes() throws IOException {
    Path rel = Path.of("").toAbsolutePath().relativize(tmp);
    Files.createDirectory(tmp.resolve("arch"));
    for (String[] spellings :
        new String[][] {
          {"file:" + rel.resolve("b.img"), "file:" + rel + "/a/../b.img"},
          {"archive:" + tmp.resolve("arch"), "archive:" + rel + "/arch/x/.."},
        }) {
      CliRun sync = CliRun.of("sync", image.toString(), spellings[0]);
      assertThat(sync.exitCode()).as(sync.err()).isZero();
      CliRun forget = CliRun.of("forget", image.toString(), spellings[1]);
      assertThat(forget.exitCode()).as(forget.err()).isZero();
    }
    assertThat(StatusCommand.query(image, null).targets()).isEmpty();
  }

  /** cbtfs:// and s3:// are named without a connection: by host, port and name; by bucket too. */
  @Test
  void remoteAndS3TargetsAreNamedWithoutConnecting() throws IOException {
    Path token = Files.writeString(tmp.resolve("token"), "ab".repeat(32));
    String s3Uri = "s3://bucket/fleet/vm1?endpoint=http://127.0.0.1:1&region=eu-x-1";
    String s3Cursor = new S3Target(S3Location.parse(s3Uri, true)).describe();
    TrackedImage img = open();
    synced(img, "cbtfs://backup.invalid:7450/vm1?archive", -1);
    synced(img, s3Cursor, 1);
    synced(img, "cbtfs://backup.invalid:7450/vm2", -1);
    unmount();
    CliRun retired = CliRun.of("forget", image.toString(), "cbtfs://backup.invalid:7450/vm2");
    assertThat(retired.exitCode()).as("no pin, no token: a retired receiver").isZero();
    CliRun remote =
        CliRun.of(
            "forget",
            image.toString(),
            "cbtfs://backup.invalid:7450/vm1?token-file=" + token + "&pin=AB12&archive");
    assertThat(remote.exitCode()).as(remote.err()).isZero();
    CliRun s3 =
        CliRun.of(
            "forget",
            "--s3-endpoint",
            "http://127.0.0.1:1",
            "--s3-region",
            "eu-x-1",
            image.toString(),
            "s3://bucket/fleet/vm1");
    assertThat(s3.exitCode()).as(s3.err()).isZero();
    assertThat(s3.out()).contains("forgot " + s3Cursor + " for ");
    assertThat(StatusCommand.query(image, null).targets()).isEmpty();
  }

  @Test
  void cursorAgeParses() {
    assertThat(CursorAgeOption.parse("30d")).isEqualTo(Duration.ofDays(30));
    assertThat(CursorAgeOption.parse("12h")).isEqualTo(Duration.ofHours(12));
    assertThat(CursorAgeOption.parse("90m")).isEqualTo(Duration.ofMinutes(90));
    assertThat(CursorAgeOption.parse("3600s")).isEqualTo(Duration.ofHours(1));
    for (String bad : new String[] {"0d", "30", "d", "-1d", "1.5h", "12x", "36501d", ""}) {
      assertThatThrownBy(() -> CursorAgeOption.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void aBadCursorAgeIsAUsageError() {
    CliRun sync =
        CliRun.of("sync", "--cursor-max-age", "0d", image.toString(), "file:" + tmp.resolve("r"));
    assertThat(sync.exitCode()).isEqualTo(2);
    assertThat(sync.err())
        .startsWith("cbtfs sync: invalid --cursor-max-age '0d': it must be positive");
    CliRun mount = CliRun.of("mount", "--cursor-max-age", "12x", "a", "b");
    assertThat(mount.exitCode()).isEqualTo(2);
    assertThat(mount.err()).startsWith("cbtfs mount: invalid --cursor-max-age '12x': use a number");
    assertThat(tmp.resolve("r")).doesNotExist();
  }

  @Test
  void theMountTakesTheCursorAgeAndPassesItToItsDaemon() {
    CommandLine cli = new CommandLine(new MountCommand());
    cli.parseArgs("--cursor-max-age", "12h", tmp.toString(), tmp.resolve("mnt").toString());
    MountCommand mount = cli.getCommand();
    io.cbtfs.fs.mount.MountOptions options = mount.options();
    assertThat(options.tracking().cursors().maxAge()).isEqualTo(Duration.ofHours(12));
    assertThat(mount.childArgs(options, MemoryBudget.parse(MemoryBudget.DEFAULT)))
        .contains("--cursor-max-age=12h");
  }

  /** The report says what the target held and why that much was sent, for humans and scripts. */
  @Test
  void aSyncSaysWhy() throws IOException {
    String replica = "file:" + tmp.resolve("replica.img");
    CliRun first = CliRun.of("sync", "--json", image.toString(), replica);
    assertThat(first.exitCode()).as(first.err()).isZero();
    assertThat(first.out())
        .contains("\"base\":-1,\"why\":\"the target holds nothing of this image: every block\"}");
    long firstGeneration = jsonLong(first.out(), "generation");
    CliRun second = CliRun.of("sync", image.toString(), replica);
    assertThat(second.out().lines())
        .hasSize(2)
        .last()
        .isEqualTo("why: the blocks changed since the target's generation " + firstGeneration);
    long secondGeneration = StatusCommand.query(image, null).targets().get(0).generation();
    CliRun third = CliRun.of("sync", "--json", image.toString(), replica);
    assertThat(third.out())
        .contains(
            "\"base\":"
                + secondGeneration
                + ",\"why\":\"the blocks changed since the target's generation "
                + secondGeneration
                + "\"}");
  }

  private static long jsonLong(String json, String field) {
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"" + field + "\":(-?\\d+)").matcher(json);
    assertThat(m.find()).as(field + " in " + json).isTrue();
    return Long.parseLong(m.group(1));
  }
}
