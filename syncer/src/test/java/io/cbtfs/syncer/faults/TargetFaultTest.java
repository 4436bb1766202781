package io.cbtfs.syncer.faults;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.syncer.remote.Receiver;
import io.cbtfs.syncer.remote.RemoteTarget;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * DESIGN.md invariant 7, proven by fault injection at every target I/O. For a replica, an archive
 * and a receiver, and for each kind of fault (ENOSPC, EIO, a short write, a crash: that operation
 * and all after it fail), an incremental sync is run with the fault at its k-th target operation,
 * for every k. After each:
 *
 * <ol>
 *   <li>the target (its next use finishing any journal) serves the old generation or the new one,
 *       byte for byte, and no other;
 *   <li>a sync that succeeded left the target and the tracker at the new generation and nothing
 *       dirty; one that failed left the tracker at the old one with every changed block dirty, and,
 *       unless the process died, the target as it was;
 *   <li>after a write, the next sync to it is an incremental one from whatever generation it holds
 *       (the new one, too, after a failure past its commit point) and makes it byte-identical;
 *   <li>a write, a sync to a second target (which takes the next generation number), another write
 *       and one more sync to the first target make it byte-identical to the image: no generation
 *       number was issued twice for different contents.
 * </ol>
 *
 * <p>Mutants it catches (run by hand; counts in docs/OPERATIONS.md): the tracker numbering a drain
 * committed + 1 instead of issued + 1 (6 violations: a crash after the target's commit, then the
 * number given again to a second target); a replica's apply failure escaping its commit point (54:
 * the failed sync left the target at the new generation).
 */
class TargetFaultTest {
  private static final int IMAGE_BYTES = 1 << 20;
  private static final String TOKEN = "00112233445566778899aabbccddeeff";

  enum Kind {
    REPLICA,
    ARCHIVE,
    RECEIVER
  }

  @TempDir Path tmp;
  private final Syncer syncer = new Syncer(256 << 10, 2);

  @ParameterizedTest
  @EnumSource(Kind.class)
  void aFaultAtAnyTargetIoLeavesTheOldOrTheNewGenerationAndNothingSilentlyWrong(Kind kind)
      throws Exception {
    List<String> violations = new ArrayList<>();
    int points = 0;
    int failedSyncs = 0;
    for (Faults.Kind fault : Faults.Kind.values()) {
      for (int k = 1; ; k++) {
        Run run = new Run(kind, fault, k, Files.createDirectory(tmp.resolve(fault + "-" + k)));
        if (!run.execute(violations)) {
          break; // the sync made fewer than k target operations: every point of this fault done
        }
        points++;
        failedSyncs += run.failed ? 1 : 0;
      }
    }
    System.out.printf(
        "fault injection, %s: %d fault points explored (%d syncs failed), %d violations%n",
        kind, points, failedSyncs, violations.size());
    assertThat(violations).as("violations").isEmpty();
    assertThat(points).as("fault points explored").isGreaterThan(40);
    assertThat(failedSyncs).as("faults that failed a sync").isPositive();
  }

  /**
   * Two faults in one sync (the k-th and one of the next three operations fail): a failed commit
   * whose undo fails too must still leave the old or the new generation, whole.
   */
  @ParameterizedTest
  @EnumSource(
      value = Kind.class,
      names = {"REPLICA", "ARCHIVE"})
  void twoFaultsInOneSyncLeaveNothingSilentlyWrong(Kind kind) throws Exception {
    List<String> violations = new ArrayList<>();
    int points = 0;
    for (int k = 1; ; k++) {
      boolean fired = false;
      for (int j = 1; j <= 3; j++) {
        Run run =
            new Run(kind, Faults.Kind.IO_ERROR, k, Files.createDirectory(tmp.resolve(k + "+" + j)));
        run.also = k + j;
        if (run.execute(violations)) {
          fired = true;
          points++;
        }
      }
      if (!fired) {
        break;
      }
    }
    System.out.printf(
        "fault injection, %s, two faults: %d fault points explored, %d violations%n",
        kind, points, violations.size());
    assertThat(violations).as("violations").isEmpty();
    assertThat(points).isGreaterThan(40);
  }

  /**
   * A fault in the first, full sync into a target that does not exist yet (a new replica is written
   * in place and renamed in): the target holds nothing or the whole image, and a plain sync (no
   * --full) then completes it; nothing half-made is left for it to refuse.
   */
  @ParameterizedTest
  @EnumSource(
      value = Kind.class,
      names = {"REPLICA", "ARCHIVE"})
  void aFaultInTheFirstSyncLeavesATargetThatAPlainSyncCompletes(Kind kind) throws Exception {
    List<String> violations = new ArrayList<>();
    int points = 0;
    for (Faults.Kind fault :
        new Faults.Kind[] {Faults.Kind.NO_SPACE, Faults.Kind.IO_ERROR, Faults.Kind.CRASH}) {
      for (int k = 1; ; k++) {
        Run run = new Run(kind, fault, k, Files.createDirectory(tmp.resolve("first-" + fault + k)));
        if (!run.executeFirst(violations)) {
          break;
        }
        points++;
      }
    }
    System.out.printf(
        "fault injection, %s, first sync: %d fault points explored, %d violations%n",
        kind, points, violations.size());
    assertThat(violations).as("violations").isEmpty();
    assertThat(points).isGreaterThan(20);
  }

  /** One sync with one fault, and the checks after it. */
  private final class Run {
    final Kind kind;
    final Faults.Kind fault;
    final int k;
    final Path dir;
    final Faults faults = new Faults();
    final FaultyFileSystem faulty = new FaultyFileSystem(faults);
    SyncFixture fx;
    Receiver receiver;
    boolean failed;
    int also; // a second operation to fail (0: none)

    Run(Kind kind, Faults.Kind fault, int k, Path dir) {
      this.kind = kind;
      this.fault = fault;
      this.k = k;
      this.dir = dir;
    }

    /** Returns false if the fault never fired (k past the sync's last target operation). */
    boolean execute(List<String> violations) throws Exception {
      fx = new SyncFixture(Files.createDirectory(dir.resolve("src")), IMAGE_BYTES, k);
      Path store = Files.createDirectory(dir.resolve("target"));
      try {
        startReceiver(store);
        long g1;
        try (Target t = target(faulty.wrap(store))) {
          g1 = syncer.sync(fx.source(), t, false, SyncProgress.NONE).generation();
        }
        byte[] old = Files.readAllBytes(fx.image);
        Random r = new Random(k);
        for (int i = 0; i < 4; i++) {
          fx.write(r.nextInt(IMAGE_BYTES - 70_000), random(r.nextInt(70_000) + 1, r.nextLong()));
        }
        byte[] fresh = Files.readAllBytes(fx.image);
        long dirty = fx.tracked.dirtyBlocks().blockCount();

        Exception failure = syncWithFault(store);
        if (!faults.fired()) {
          return false;
        }
        failed = failure != null;
        long g2 = fx.tracked.issuedGeneration();
        String where =
            kind + " " + fault + " at target operation " + k + (also > 0 ? " and " + also : "");
        Check check = new Check(violations, where, faults.trace(), failure);
        if (fault == Faults.Kind.CRASH) {
          fx.crashAndRecover(); // the sender died with its target's disk (one process)
          restartReceiver(store);
        }

        // 1. the old generation or the new one, exactly
        TargetState state;
        try (Target t = target(store)) {
          state = t.state();
          byte[] held;
          try {
            held = contents(t, store, state.generation());
          } catch (IOException | RuntimeException e) {
            check.fail("records generation " + state.generation() + " but cannot serve it: " + e);
            return true;
          }
          if (state.generation() == g1) {
            check.that(Arrays.equals(held, old), "serves generation " + g1 + " but not its bytes");
          } else if (state.generation() == g2) {
            check.that(Arrays.equals(held, fresh), "serves generation " + g2 + ", other bytes");
          } else {
            check.fail(
                "serves generation " + state.generation() + ", neither " + g1 + " nor " + g2);
          }
        }

        // 2. the tracker agrees with the target
        long committed = fx.tracked.committedGeneration();
        if (fault != Faults.Kind.CRASH) {
          if (failure == null) {
            check.that(state.generation() == g2, "a sync that succeeded left the target behind");
            check.that(committed == g2, "a sync that succeeded did not commit the tracker");
            check.that(fx.tracked.dirtyBlocks().blockCount() == 0, "blocks still dirty");
          } else {
            // with a second fault the undo of a failed commit may fail too: then the target may
            // hold the new generation, whose number no other target will get
            check.that(
                state.generation() == g1 || also > 0,
                "a failed sync changed what the target serves");
            check.that(committed == g1, "a failed sync committed the tracker");
            check.that(
                fx.tracked.dirtyBlocks().blockCount() >= dirty, "a failed sync lost dirty blocks");
          }
        }

        // 3. the next sync to it, from whatever generation it holds: identical
        fx.write(IMAGE_BYTES / 3, random(3000, 2_000_000 + k));
        SyncReport next = nextSyncMatches(check, store, "the next sync");
        check.that(
            next == null || !next.full(),
            "the next sync sent every block: the tracker disowned the target");

        // 4. a write, a second target takes the next number, a write, one more sync: identical
        fx.write(0, random(4096, 1_000_000 + k)); // not the seed of the image's own bytes
        try (Target other =
            new ReplicaTarget(Files.createDirectory(dir.resolve("other")).resolve("o.img"))) {
          syncer.sync(fx.source(), other, false, SyncProgress.NONE);
        }
        fx.write(IMAGE_BYTES - 5000, random(5000, -k));
        nextSyncMatches(check, store, "one more sync");
        return true;
      } finally {
        if (receiver != null) {
          receiver.close();
        }
        fx.close();
      }
    }

    /** The sync with the armed fault (and the second one, if any); what it threw, or null. */
    private Exception syncWithFault(Path store) throws IOException {
      faults.arm(fault, k, also);
      Exception failure = null;
      try (Target t = target(faulty.wrap(store))) {
        syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      } catch (IOException | RuntimeException e) {
        failure = e;
      }
      ReplicaTarget.awaitSettles();
      faults.disarm();
      return failure;
    }

    /**
     * A sync with no fault to the target under test, which must then serve the image byte for byte;
     * its report, or null if it failed (a violation already).
     */
    private SyncReport nextSyncMatches(Check check, Path store, String what) throws IOException {
      try (Target t = target(store)) {
        SyncReport next = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
        ReplicaTarget.awaitSettles();
        check.that(
            Arrays.equals(contents(t, store, next.generation()), Files.readAllBytes(fx.image)),
            what + " (generation " + next.generation() + ") left it different");
        return next;
      } catch (IOException | RuntimeException e) {
        check.fail(what + " failed: " + e);
        return null;
      }
    }

    /** The first sync with the fault; false if it never fired. */
    boolean executeFirst(List<String> violations) throws Exception {
      fx = new SyncFixture(Files.createDirectory(dir.resolve("src")), IMAGE_BYTES, k);
      Path store = Files.createDirectory(dir.resolve("target"));
      try {
        Exception failure = syncWithFault(store);
        if (!faults.fired()) {
          return false;
        }
        Check check =
            new Check(
                violations,
                kind + " " + fault + " at first-sync operation " + k,
                faults.trace(),
                failure);
        if (fault == Faults.Kind.CRASH) {
          fx.crashAndRecover();
        }
        byte[] image = Files.readAllBytes(fx.image);
        try (Target t = target(store)) {
          TargetState state = t.state();
          if (state.exists()) {
            check.that(
                Arrays.equals(contents(t, store, state.generation()), image),
                "holds generation " + state.generation() + " but not the image's bytes");
          } else {
            check.that(failure != null, "a sync that succeeded left the target empty");
          }
        } catch (IOException | RuntimeException e) {
          check.fail("cannot read what it holds: " + e);
        }
        fx.write(IMAGE_BYTES / 2, random(5000, 3_000_000 + k));
        nextSyncMatches(check, store, "the next plain sync");
        return true;
      } finally {
        fx.close();
      }
    }

    private void startReceiver(Path store) throws IOException {
      if (kind == Kind.RECEIVER) {
        receiver =
            Receiver.start(
                new Receiver.Options(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                    faulty.wrap(store),
                    java.util.HexFormat.of().parseHex(TOKEN),
                    null,
                    4,
                    10_000));
      }
    }

    /** A receiver that died starts again over the same folder. */
    private void restartReceiver(Path store) throws IOException {
      if (receiver != null) {
        receiver.close();
        receiver = null;
        startReceiver(store);
      }
    }

    /** The target under test, its files under {@code store} (a faulty path or the real one). */
    private Target target(Path store) throws IOException {
      return switch (kind) {
        case REPLICA -> new ReplicaTarget(store.resolve("disk.img"));
        case ARCHIVE -> new ArchiveTarget(store.resolve("disk.archive"));
        case RECEIVER ->
            RemoteTarget.parse(
                "cbtfs://127.0.0.1:"
                    + receiver.address().getPort()
                    + "/disk?insecure&token-file="
                    + tokenFile());
      };
    }

    private Path tokenFile() throws IOException {
      Path f = dir.resolve("token");
      if (!Files.exists(f)) {
        Files.writeString(f, TOKEN);
      }
      return f;
    }

    /** What the target serves as {@code generation}. */
    private byte[] contents(Target t, Path store, long generation) throws IOException {
      if (kind == Kind.ARCHIVE) {
        Path out = dir.resolve("restored-" + generation + "-" + System.nanoTime());
        ((ArchiveTarget) t).restore(generation, out, (done, total) -> {});
        return Files.readAllBytes(out);
      }
      return Files.readAllBytes(store.resolve("disk.img"));
    }
  }

  /** Collects what a run got wrong, with the operations that led there. */
  private record Check(
      List<String> violations, String where, List<String> trace, Exception failure) {
    void that(boolean ok, String what) {
      if (!ok) {
        fail(what);
      }
    }

    void fail(String what) {
      violations.add(
          where
              + ": "
              + what
              + " (sync "
              + (failure == null ? "succeeded" : "failed: " + failure)
              + "; operations "
              + trace
              + ")");
    }
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }
}
