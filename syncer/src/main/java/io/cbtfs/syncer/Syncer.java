package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.CopyBeforeWrite;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.GroupDrain;
import io.cbtfs.tracker.SnapshotBrokenException;
import io.cbtfs.tracker.ToReadSet;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One sync of an image to a target: state, drain, plan, ship, commit (docs/ARCHITECTURE.md, "The
 * sync path").
 *
 * <ol>
 *   <li>Ask the target what it holds ({@link Target#state}).
 *   <li>Take the dirty set ({@link TrackedImage#beginSync}): new writes go to the next generation,
 *       whose number is saved before any target can hold it. A point-in-time sync ({@link
 *       SyncSource#pointInTime}) also protects the blocks it will read: a write copies their old
 *       bytes to its {@link Fleece} first, and the sync reads them from there.
 *   <li>Decide full or incremental and which blocks ({@link SyncPlan}).
 *   <li>Read, encode and write the records in order ({@link RecordPipeline}) to the target's {@link
 *       Delivery}.
 *   <li>{@link Delivery#commit}: the target verifies, makes durable, applies, acknowledges. Only
 *       then {@link TrackedImage#commit}: the target's cursor moves to the drain's generation. Any
 *       failure before the target's commit leaves the cursor where it was (the drain's
 *       try-with-resources; the drained blocks stay in the history, so the next sync to that target
 *       sends them again); any failure after it is a warning in the report.
 * </ol>
 *
 * <p>Thread safety: one sync per image at a time (the tracker refuses a second drain).
 */
public final class Syncer {
  private static final Logger log = LoggerFactory.getLogger(Syncer.class);
  public static final int DEFAULT_RECORD_BYTES = 1 << 20;

  /** Reads in flight at least this many, whatever the core count: cold random reads are latency. */
  /** The fewest reader threads a sync runs, whatever it is asked for. */
  public static final int MIN_IO_THREADS = 8;

  private final int maxRecordBytes;
  private final int threads;

  public Syncer() {
    this(DEFAULT_RECORD_BYTES, Runtime.getRuntime().availableProcessors());
  }

  /**
   * @param maxRecordBytes the most image bytes one record (one read) spans
   * @param threads readers and encoders (at least {@value #MIN_IO_THREADS})
   */
  public Syncer(int maxRecordBytes, int threads) {
    this.maxRecordBytes = maxRecordBytes;
    this.threads = Math.max(MIN_IO_THREADS, threads);
  }

  /**
   * Syncs {@code source} to {@code target}.
   *
   * @param forceFull send every block, and overwrite a target that holds another image
   * @throws CbtfsException if the target refuses (foreign image, out of order): nothing changed
   * @throws IOException if reading, shipping or the target failed: the dirty set is intact
   */
  public SyncReport sync(SyncSource source, Target target, boolean forceFull, SyncProgress progress)
      throws IOException {
    long started = System.nanoTime();
    Prepared p = prepare(source, target, forceFull);
    Drain drain;
    try {
      drain = source.image().beginSync(target.describe(), p.held(), p.copyBeforeWrite());
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(p, null, e);
      throw e;
    }
    progress.drained(); // a freeze of the guest may end: the instant is taken
    return ship(p, drain, started, progress);
  }

  /** One image of a consistency group, and its target. */
  public record Member(SyncSource source, Target target) {}

  /**
   * A group sync that failed: the images before {@link #failedIndex} committed (their targets hold
   * the group's instant), that one and the later ones did not (their targets keep their
   * generations, their blocks stay dirty).
   */
  public static final class GroupFailure extends IOException {
    private static final long serialVersionUID = 1L;
    private final int failedIndex;
    private final transient List<SyncReport> committed;

    GroupFailure(int failedIndex, List<SyncReport> committed, Exception cause) {
      super(cause.getMessage(), cause);
      this.failedIndex = failedIndex;
      this.committed = List.copyOf(committed);
    }

    /** The member that failed; -1 when the group's drain failed (no image was synced). */
    public int failedIndex() {
      return failedIndex;
    }

    /** The reports of the members that committed, in order. */
    public List<SyncReport> committed() {
      return committed;
    }
  }

  /**
   * Syncs a consistency group: every member's target is asked what it holds, then all images drain
   * at one instant ({@link GroupDrain}), then each ships and commits in turn, {@code progress} told
   * {@link SyncProgress#member} first. Each target has its own commit point: there is no commit of
   * them all at once.
   *
   * @throws GroupFailure at the first member that fails (its cause says why): the members before it
   *     committed, the rest did not start shipping
   */
  public List<SyncReport> syncGroup(List<Member> members, boolean forceFull, SyncProgress progress)
      throws GroupFailure {
    long started = System.nanoTime();
    List<Prepared> prepared = new ArrayList<>();
    List<Drain> drains;
    try {
      for (Member m : members) {
        if (!m.source().pointInTime().on()) {
          throw new IllegalArgumentException("a consistency group is point-in-time");
        }
        try {
          prepared.add(prepare(m.source(), m.target(), forceFull));
        } catch (IOException | RuntimeException e) {
          throw new GroupFailure(prepared.size(), List.of(), e);
        }
      }
      List<GroupDrain.Member> group = new ArrayList<>();
      for (Prepared p : prepared) {
        group.add(
            new GroupDrain.Member(
                p.source().image(), p.target().describe(), p.held(), p.copyBeforeWrite()));
      }
      try {
        drains = GroupDrain.begin(group);
      } catch (IOException | RuntimeException e) {
        throw new GroupFailure(-1, List.of(), e);
      }
      progress.drained(); // once, for the group: a freeze of the guest may end
    } catch (GroupFailure | RuntimeException e) {
      for (Prepared p : prepared) {
        closeAfterFailure(p, null, e);
      }
      throw e;
    }
    List<SyncReport> reports = new ArrayList<>();
    for (int i = 0; i < prepared.size(); i++) {
      try {
        progress.member(i);
        reports.add(ship(prepared.get(i), drains.get(i), started, progress));
      } catch (IOException | RuntimeException e) {
        GroupFailure failure = new GroupFailure(i, reports, e);
        for (int j = i + 1; j < prepared.size(); j++) {
          closeAfterFailure(prepared.get(j), drains.get(j), failure);
        }
        throw failure;
      }
    }
    return reports;
  }

  /** A sync asked its target what it holds, and opened its fleece: what its drain needs. */
  private record Prepared(
      SyncSource source, Target target, boolean forceFull, long held, Fleece fleece) {
    CopyBeforeWrite copyBeforeWrite() {
      BlockGeometry geometry = source.image().tracker().geometry();
      return fleece == null
          ? null
          : new CopyBeforeWrite(
              fleece, (int) Math.max(1, target.granuleBytes() / geometry.blockSize()));
    }
  }

  private static Prepared prepare(SyncSource source, Target target, boolean forceFull)
      throws IOException {
    TrackedImage image = source.image();
    TargetState state = target.state();
    if (!forceFull) {
      state.requireLineage(image.lineage(), target.describe(), target.otherImageAdvice());
    }
    long held = forceFull || !state.exists() ? -1 : state.generation();
    Fleece fleece =
        source.pointInTime().on()
            ? Fleece.open(
                source.backingFile(),
                image.name(),
                image.tracker().geometry(),
                source.pointInTime())
            : null;
    return new Prepared(source, target, forceFull, held, fleece);
  }

  /** Closes what a sync that will not ship holds; a failure to close is added to {@code e}. */
  private static void closeAfterFailure(Prepared p, Drain drain, Exception e) {
    if (drain != null) {
      drain.close();
    }
    if (p.fleece() != null) {
      try {
        p.fleece().close();
      } catch (IOException | RuntimeException again) {
        e.addSuppressed(again);
      }
    }
  }

  /** Plans, ships and commits a drain taken for {@code p}; closes the drain and the fleece. */
  private SyncReport ship(Prepared p, Drain taken, long started, SyncProgress progress)
      throws IOException {
    SyncSource source = p.source();
    Target target = p.target();
    TrackedImage image = source.image();
    List<String> warnings = new ArrayList<>();
    SyncPlan plan = null;
    Shipped shipped = null;
    boolean committed = false; // from the target's commit point on, nothing fails the sync
    // The drain first: the pipeline reads the image's size, which must cover every block drained
    // (a write that grew the image marked its blocks after its pwrite)
    BlockGeometry geometry = image.tracker().geometry();
    try (Fleece fleece = p.fleece();
        Drain drain = taken;
        RecordPipeline reads =
            RecordPipeline.open(
                source.backingFile(), geometry, maxRecordBytes, threads, drain.toRead(), fleece)) {
      plan = SyncPlan.of(image, drain, reads, target);
      io.cbtfs.syncer.crypto.EncryptionKey key = target.recordKey();
      DeltaHeader header =
          key == null ? plan.header() : plan.header().sealedWith(key.fingerprint());
      boolean resuming = !p.forceFull() && key == null && target.keepsAttempts();
      try (Delivery delivery =
          resuming ? target.beginResuming(header) : target.begin(header, p.forceFull())) {
        ReusableRecords reuse = resuming ? resume(image, drain, delivery, plan) : null;
        DeltaWriter writer =
            new DeltaWriter(
                delivery.stream(), header, key == null ? null : new RecordSeal(key.seal(), header));
        long zeros = reads.ship(plan.blocks(), plan.header().full(), writer, progress, reuse);
        if (reuse != null) {
          log.info(
              "{}: {} bytes of the image reused from what it kept of attempt {}",
              target.describe(),
              writer.reusedBytes(),
              reuse.kept().generation());
        }
        shipped = new Shipped(writer.recordCount(), zeros, writer.finish());
        requireSnapshot(drain);
        delivery.commit(); // the target's commit point
        committed = true;
        image.commit(drain, plan.header().imageSize()); // only now the target's cursor moves
        if (!delivery.warning().isEmpty()) {
          warnings.add(delivery.warning());
        }
        shipped = shipped.onTheWire(delivery.wireBytes(shipped.wireBytes()));
      }
    } catch (IOException | RuntimeException e) {
      if (!committed) {
        throw e; // before the commit point: the target's cursor stays where it was
      }
      log.warn("after the sync to {} committed: {}", target.describe(), e.toString());
      warnings.add("after the commit: " + e.getMessage());
    }
    SyncReport report =
        new SyncReport(
            target.describe(),
            plan.header().generation(),
            plan.header().full(),
            plan.blocks().blockCount(),
            plan.blocks().byteCount(plan.header().imageSize()),
            shipped.wireBytes(),
            shipped.records(),
            shipped.zeroRecords(),
            (System.nanoTime() - started) / 1e9,
            String.join("; ", warnings),
            plan.header().full() ? -1 : plan.header().baseGeneration(),
            plan.why());
    log.info(
        "synced {} to {}: {}, {} blocks, {} bytes on the wire",
        source.backingFile(),
        target.describe(),
        plan.header().describe(),
        report.blocks(),
        report.wireBytes());
    return report;
  }

  /**
   * After the target took the start of a resumable delivery: records the attempt (if this sync
   * fails, the target may keep a part of it), and works out which records the target kept of the
   * earlier attempt this one may reuse; their blocks need no protection from writes, they are not
   * read.
   */
  private static ReusableRecords resume(
      TrackedImage image, Drain drain, Delivery delivery, SyncPlan plan) {
    try {
      image.attempted(drain);
    } catch (IOException e) { // the attempt is recorded in memory; the next save keeps it
      log.warn("could not save the tracking state: {}", e.getMessage());
    }
    ReusableRecords reuse =
        ReusableRecords.of(
            delivery.kept(), drain.attempt(), plan.blocks(), plan.header().imageSize());
    if (reuse != null && drain.toRead() != null) {
      drain.toRead().retainOnly(reuse.notReused());
    }
    return reuse;
  }

  /**
   * Fails a point-in-time sync whose snapshot broke, even with nothing left to read: a copy that
   * failed while a verified sync compared the image may have hidden a block that differed at the
   * drain (the write made it equal to the target again, so it is not sent).
   */
  private static void requireSnapshot(Drain drain) throws SnapshotBrokenException {
    ToReadSet toRead = drain.toRead();
    if (toRead != null && toRead.broken() != null) {
      throw toRead.broken();
    }
  }

  /** What went to the target: records, zero records among them, bytes on its wire. */
  private record Shipped(long records, long zeroRecords, long wireBytes) {
    Shipped onTheWire(long bytes) {
      return new Shipped(records, zeroRecords, bytes);
    }
  }
}
