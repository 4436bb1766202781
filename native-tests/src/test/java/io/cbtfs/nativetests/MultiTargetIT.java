package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.s3.S3ProxyServer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #18 through a real mount and the cbtfs command: one image, three targets (a replica, an
 * archive, and an S3 store on S3Proxy), synced in seeded interleaved orders with writes through the
 * mount in between. The test keeps its own record of the blocks written since each target's
 * previous sync; every {@code sync --json} must report exactly that many (for S3 widened to its 1
 * MiB granules, as the sync widens them), and leave the target byte-identical to the image (the
 * archive and the S3 store restored with {@code cbtfs restore}). Then a target removed and re-added
 * (a full copy), and a kill -9 of the mount between two targets' syncs: after the remount every
 * target still ends identical, and is sent at least what it lacks (the activity log's extents widen
 * it).
 */
class MultiTargetIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE_BYTES = 16 << 20;
  private static final int BLOCKS = IMAGE_BYTES / BLOCK;
  private static final int S3_GRANULE_BLOCKS = (1 << 20) / BLOCK;
  private static final String IMAGE = "vm1.raw";
  private static final Pattern BLOCKS_FIELD = Pattern.compile("\"blocks\":(\\d+)");
  private static final Pattern FULL_FIELD = Pattern.compile("\"full\":(true|false)");

  @TempDir Path tmp;
  DaemonMount folder;
  S3ProxyServer server;
  Map<String, String> env;
  String endpoint;
  ProcessHandle daemon;
  final Random rnd = new Random(18);
  int restores;
  Target replica;
  Target archive;
  Target s3;
  List<Target> all;

  /** One target and the blocks written (64 KiB blocks) since its previous sync. */
  private final class Target {
    final String uri;
    final int granuleBlocks;
    final BitSet lacks = new BitSet();
    boolean empty;

    Target(String uri, int granuleBlocks) {
      this.uri = uri;
      this.granuleBlocks = granuleBlocks;
      removed();
    }

    /** It holds nothing (again): it lacks every block. */
    void removed() {
      empty = true;
      lacks.set(0, BLOCKS);
    }

    /** What the sync sends: the blocks it lacks, widened to whole granules as the syncer does. */
    long expectedBlocks() {
      BitSet widened = new BitSet();
      lacks.stream()
          .forEach(
              b -> {
                int first = b / granuleBlocks * granuleBlocks;
                widened.set(first, Math.min(BLOCKS, first + granuleBlocks));
              });
      return widened.cardinality();
    }

    String[] withEndpoint(String... args) {
      List<String> out = new ArrayList<>(List.of(args));
      if (uri.startsWith("s3:")) {
        out.add("--s3-endpoint");
        out.add(endpoint);
      }
      return out.toArray(String[]::new);
    }

    /** {@code cbtfs sync --json}: the blocks it reports, once the target is checked identical. */
    Report sync() throws IOException {
      Tools.Result r = ok(withEndpoint("sync", "--json", folder.image(IMAGE).toString(), uri));
      Matcher blocks = BLOCKS_FIELD.matcher(r.output());
      Matcher full = FULL_FIELD.matcher(r.output());
      assertThat(blocks.find() && full.find()).as(r.output()).isTrue();
      assertIdentical();
      lacks.clear();
      empty = false;
      return new Report(Long.parseLong(blocks.group(1)), Boolean.parseBoolean(full.group(1)));
    }

    /** Syncs; exactly the blocks written since this target's previous sync go. */
    void syncExactly() throws IOException {
      long expected = expectedBlocks();
      boolean wasEmpty = empty;
      Report r = sync();
      assertThat(r.blocks()).as("blocks sent to %s", uri).isEqualTo(expected);
      assertThat(r.full()).as("a full sync to %s", uri).isEqualTo(wasEmpty);
    }

    void assertIdentical() throws IOException {
      Path copy;
      if (uri.startsWith("file:")) {
        copy = Path.of(uri.substring("file:".length()));
      } else {
        copy = tmp.resolve("restored-" + restores++);
        ok(withEndpoint("restore", uri, copy.toString()));
      }
      assertThat(Files.mismatch(folder.backingFile(IMAGE), copy))
          .as("%s identical to the image", uri)
          .isEqualTo(-1L);
    }

    @Override
    public String toString() {
      return uri;
    }
  }

  private record Report(long blocks, boolean full) {}

  @BeforeEach
  void setUp() throws IOException {
    folder = DaemonMount.prepare(tmp);
    byte[] image = new byte[IMAGE_BYTES];
    new Random(1).nextBytes(image);
    java.util.Arrays.fill(image, 4 << 20, 6 << 20, (byte) 0);
    Files.write(folder.backingFile(IMAGE), image);
    server = S3ProxyServer.start(Files.createDirectory(tmp.resolve("s3")), "backups");
    env = Map.of("AWS_SHARED_CREDENTIALS_FILE", server.credentialsFile().toString());
    endpoint = server.endpoint();
    replica = new Target("file:" + Files.createDirectory(tmp.resolve("replica")).resolve(IMAGE), 1);
    archive = new Target("archive:" + tmp.resolve("archive"), 1);
    s3 = new Target("s3://backups/fleet/vm1", S3_GRANULE_BLOCKS);
    all = List.of(replica, archive, s3);
    mount();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      folder.close();
    } finally {
      server.close();
    }
  }

  /** Mounts with the transport this run of the suite tests. */
  private void mount() {
    FuseTransport t = MountedFolder.transport();
    daemon = t == FuseTransport.AUTO ? folder.mount() : folder.mount("--transport=" + t.label());
  }

  Tools.Result ok(String... args) {
    Tools.Result r = Cbtfs.run(env, args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  /** Random bytes at a random place through the mount; every target now lacks those blocks. */
  private void writeSomething() throws IOException {
    int length = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 1_500_000 : 100_000);
    long offset = (long) (rnd.nextDouble() * (IMAGE_BYTES - length));
    byte[] data = new byte[length];
    rnd.nextBytes(data);
    try (FileChannel ch = FileChannel.open(folder.image(IMAGE), StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(data);
      while (b.hasRemaining()) {
        ch.write(b, offset + b.position());
      }
    }
    int first = (int) (offset / BLOCK);
    int end = (int) ((offset + length - 1) / BLOCK) + 1;
    all.forEach(t -> t.lacks.set(first, end));
  }

  private void writes(int most) throws IOException {
    for (int w = rnd.nextInt(most + 1); w > 0; w--) {
      writeSomething();
    }
  }

  /** Rounds of the targets in a shuffled order, some sitting out, writes in between. */
  private void interleavedRounds(int rounds) throws IOException {
    List<Target> order = new ArrayList<>(all);
    for (int round = 0; round < rounds; round++) {
      Collections.shuffle(order, rnd);
      for (Target t : order.subList(0, 1 + rnd.nextInt(order.size()))) {
        writes(3);
        t.syncExactly();
      }
    }
  }

  @Test
  void threeTargetsInterleavedEachGetExactlyWhatTheyLack() throws Exception {
    for (Target t : all) {
      t.syncExactly(); // full: every block
    }
    interleavedRounds(4);

    // removed and re-added: the replica's file deleted, the archive's folder emptied
    writeSomething();
    Files.delete(Path.of(replica.uri.substring("file:".length())));
    try (Stream<Path> files = Files.list(tmp.resolve("archive"))) {
      for (Path f : files.toList()) {
        Files.delete(f);
      }
    }
    for (Target t : List.of(replica, archive)) {
      t.removed();
      t.syncExactly(); // full: every block
    }
    interleavedRounds(2);
  }

  @Test
  void aMountKilledBetweenTwoTargetsSyncsMissesNoWrite() throws Exception {
    for (Target t : all) {
      t.syncExactly();
    }
    writeSomething();
    writeSomething();
    List<Target> order = new ArrayList<>(all);
    Collections.shuffle(order, rnd);
    Target first = order.get(0);
    first.syncExactly();
    writeSomething(); // after the first target's sync, known to the activity log only

    daemon.destroyForcibly(); // SIGKILL
    daemon.onExit().get(30, TimeUnit.SECONDS);
    Tools.exec(List.of("fusermount", "-u", "-z", folder.mnt.toString()), 30);
    assertThat(ProcMounts.isMounted(folder.mnt)).isFalse();
    mount();
    writeSomething();

    // the others, then the first: each identical, each sent at least what it lacks
    List<Target> after = new ArrayList<>(order.subList(1, order.size()));
    after.add(first);
    for (Target t : after) {
      long lacks = t.expectedBlocks();
      Report r = t.sync();
      assertThat(r.full()).as("%s after the crash", t).isFalse();
      assertThat(r.blocks())
          .as("blocks sent to %s after the crash", t)
          .isGreaterThanOrEqualTo(lacks);
    }
    interleavedRounds(2); // and exact again
  }
}
