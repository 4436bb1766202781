package io.cbtfs.syncer.local;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.ImageReads;
import io.cbtfs.syncer.NativeFile;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.VerifiedDeltaWalk;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.FileStateIo;
import io.cbtfs.tracker.ReplicaSidecars;
import io.cbtfs.tracker.ReplicaSidecars.Kind;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import org.roaringbitmap.RoaringBitmap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code file:PATH}: a replica image kept byte-identical to the source. Beside it, hidden: {@code
 * .NAME.cbtfs-meta} (lineage and generation), {@code .NAME.cbtfs-staging} (a delta being received),
 * {@code .NAME.cbtfs-new} (the first full image being written, before the replica exists), {@code
 * .NAME.cbtfs-apply} (a verified delta being applied: the journal), {@code .NAME.cbtfs-lock} (held
 * while a delta commits and settles, and while a journal is recovered) and {@code .NAME.cbtfs-sync}
 * (held by the one sync that stages a delta here): two {@link TargetLock}s.
 *
 * <p>A delta lands through {@link LocalDelivery}; this class is its storage: what the replica
 * holds, its locks, and the step at the commit point. Apply is crash-safe: the staging file is
 * verified completely, fsynced and renamed to the journal name (the commit point) before any byte
 * of the replica changes. The journal is then applied, and the sync is done: the replica reads as
 * the new generation, and the journal makes it durable. Its settle (fsync the replica, record the
 * generation, delete the journal) runs in the background once the target is closed ({@link
 * Settles}); whatever reads the replica's state waits for it. Records are absolute writes, so a
 * journal found at the next use is simply applied again; a staging file found then is discarded.
 *
 * <p>The first full sync into a replica that does not exist yet writes once, not twice: each
 * verified record goes straight into {@code .NAME.cbtfs-new}, which becomes the replica by a rename
 * once the whole delta verified and the file is durable ({@link StagingFile#ofImage}); a crash
 * before that leaves no replica, and the file is discarded at the next use.
 */
public final class ReplicaTarget implements Target {
  private static final Logger log = LoggerFactory.getLogger(ReplicaTarget.class);
  private final Path replica;
  private final Path meta;
  private final Path staging;
  private final Path fresh;
  private final Path journal;
  private final Path lock;
  private final Path syncLock;
  private final CommitPoint.Step beforeSettle;

  /** The longest sidecar is {@code .NAME.cbtfs-meta.tmp}: 16 bytes more than the name. */
  static final int MAX_NAME_BYTES = 255 - 16;

  public ReplicaTarget(Path replica) {
    this(replica, () -> {});
  }

  /** With {@code beforeSettle} run before each settle of a delta this target commits (tests). */
  ReplicaTarget(Path replica, CommitPoint.Step beforeSettle) {
    this.beforeSettle = beforeSettle;
    this.replica = Targets.realFolder(replica); // a pending settle has one name however spelled
    String name = this.replica.getFileName().toString();
    if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
      throw new CbtfsException(
          "a replica's name may be at most "
              + MAX_NAME_BYTES
              + " bytes (cbtfs keeps hidden files named ."
              + "NAME.cbtfs-meta.tmp beside it): "
              + this.replica);
    }
    this.meta = sidecar(name, Kind.META);
    this.staging = sidecar(name, Kind.STAGING);
    this.fresh = sidecar(name, Kind.NEW);
    this.journal = sidecar(name, Kind.APPLY);
    this.lock = sidecar(name, Kind.LOCK);
    this.syncLock = sidecar(name, Kind.SYNC);
  }

  private Path sidecar(String name, Kind kind) {
    return replica.resolveSibling(ReplicaSidecars.name(name, kind));
  }

  /** Waits for every replica settle of this JVM (tests, before they remove a replica's folder). */
  public static void awaitSettles() {
    Settles.awaitAll();
  }

  @Override
  public String describe() {
    return "file:" + replica;
  }

  @Override
  public java.util.Optional<Path> localPath() {
    return java.util.Optional.of(replica);
  }

  @Override
  public TargetState state() throws IOException {
    recover();
    return recorded();
  }

  /** What the metadata records, and empty if the replica itself is gone. */
  private TargetState recorded() throws IOException {
    TargetState s = SidecarMeta.read(meta);
    if (s.exists() && !Files.exists(replica)) {
      return TargetState.EMPTY; // the image was removed: start over
    }
    return s;
  }

  /**
   * The replica opened for reading, once any interrupted apply is finished (for a comparison from
   * another host); null if it holds nothing yet.
   */
  public FileChannel openForReading() throws IOException {
    return state().exists()
        ? FileChannel.open(replica, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)
        : null;
  }

  /**
   * Waits for this replica's settle, finishes an interrupted apply, discards an unverified staging
   * file.
   */
  private void recover() throws IOException {
    Settles.await(journal); // one of this JVM
    if (Files.exists(journal)) {
      try (TargetLock held = TargetLock.acquire(lock)) { // one of another process ends first
        finishJournal();
      }
    }
    if (Files.exists(staging) || Files.exists(fresh, LinkOption.NOFOLLOW_LINKS)) {
      StagingFile.discardAbandoned(syncLock, staging, fresh);
    }
  }

  /** With the lock held: applies and settles a journal that a crash left, if there is one. */
  private void finishJournal() throws IOException {
    if (!Files.exists(journal)) {
      return;
    }
    if (!Files.exists(replica, LinkOption.NOFOLLOW_LINKS)) {
      // the replica was removed: a journal would rebuild only its own blocks, and the missing
      // replica makes the next sync a full one anyway
      Files.delete(journal);
      return;
    }
    DeltaReader.verify(journal); // verified before the rename; a bad disk shows here
    settle(applyJournal());
  }

  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    Path dir = replica.getParent();
    if (!Files.isDirectory(dir)) {
      throw Targets.notADirectory(dir);
    }
    if (!isRegularOrAbsent(replica)) {
      // a folder, a link, a device or a FIFO: never a replica, --full or not
      throw new CbtfsException(replica + " is not a regular file: refusing to sync into it");
    }
    TargetLock syncing = TargetLock.forSync(syncLock, describe(), "replica");
    try {
      // the sync read the state already; it is read again only to see a sync that committed since
      Settles.await(journal);
      if (header.sealed()) { // its records would be stored, never applied
        throw new CbtfsException(
            describe()
                + " is a replica, which applies blocks and cannot hold them encrypted: sync "
                + "encrypted to an archive or an s3:// target");
      }
      recorded().check(header, describe(), allowNewLineage);
      // read again under the lock: a sync that held it may have made the replica since
      boolean exists = Files.exists(replica, LinkOption.NOFOLLOW_LINKS);
      if (!allowNewLineage && exists && !Files.exists(meta, LinkOption.NOFOLLOW_LINKS)) {
        throw new CbtfsException(
            replica
                + " exists and is not a cbtfs replica (it has no "
                + meta.getFileName()
                + "): refusing to overwrite it (sync with --full to replace it)");
      }
      if (header.full() && !exists) {
        return new LocalDelivery(
            StagingFile.ofImage(fresh), header, (f, h) -> install(f, h, allowNewLineage), syncing);
      }
      return new LocalDelivery(
          StagingFile.ofDelta(staging), header, (f, h) -> commit(f, h, allowNewLineage), syncing);
    } catch (IOException | RuntimeException | Error e) {
      syncing.close();
      throw e;
    }
  }

  /** Whether {@code path}, not following a link, is a regular file or nothing at all. */
  private static boolean isRegularOrAbsent(Path path) throws IOException {
    try {
      return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
          .isRegularFile();
    } catch (NoSuchFileException e) {
      return true;
    }
  }

  /**
   * Makes the verified delta the journal, durably: the commit point. What is left is to apply it
   * and settle it later ({@link Journaled}).
   */
  private LocalDelivery.Committed commit(Path verified, DeltaHeader header, boolean allowNewLineage)
      throws IOException {
    TargetLock held = lockToCommit(header, allowNewLineage);
    try {
      Files.move(verified, journal, StandardCopyOption.ATOMIC_MOVE);
      try {
        FileStateIo.INSTANCE.fsyncDirectory(replica.getParent());
      } catch (IOException | RuntimeException e) {
        // not known to be durable: take the journal back, so the replica stays as it was
        CommitPoint.undo(e, () -> Files.delete(journal));
        throw e;
      }
    } catch (Throwable e) { // an Error too: a lock left held would stop every later use
      held.close();
      throw e;
    }
    return new Journaled(header, held);
  }

  /**
   * A committed journal, the replica's lock held for it. Nothing here fails the sync: an apply that
   * fails (a full disk) leaves the journal, which the replica's next use finishes before anything
   * reads or changes it.
   */
  private final class Journaled implements LocalDelivery.Committed {
    private final DeltaHeader header;
    private final TargetLock held;
    private DeltaHeader applied;

    Journaled(DeltaHeader header, TargetLock held) {
      this.header = header;
      this.held = held;
    }

    @Override
    public void apply() throws IOException {
      applied = applyJournal();
    }

    @Override
    public String leave(Exception e) {
      String warning =
          describe()
              + " holds generation "
              + header.generation()
              + " in its journal, not yet in the replica file ("
              + e.getMessage()
              + "); its next use (a sync, cbtfs verify) finishes it: do not use the file"
              + " directly before that";
      log.warn(warning);
      CommitPoint.closeAfter(held, log);
      return warning;
    }

    /** Settles in the background, once the sync is over ({@link Settles}). */
    @Override
    public void settle() {
      try {
        Settles.submit(
            journal,
            () -> {
              try (held) {
                beforeSettle.run();
                ReplicaTarget.this.settle(applied);
              }
            });
      } catch (RuntimeException e) { // no settle thread: the journal is finished at the next use
        log.warn("{}: cannot settle generation {} now: {}", describe(), header.generation(), e);
        CommitPoint.closeAfter(held, log);
      }
    }
  }

  /**
   * Makes a complete, durable new image the replica (a full sync into a replica that did not
   * exist). The metadata of the new generation is written first: while no replica file exists it
   * describes nothing (a replica that is missing reads as empty). Then the file takes the replica's
   * name, durably: the commit point. A failure before it takes back both, so that nothing half-made
   * is left for the next sync to refuse as a foreign file.
   */
  private LocalDelivery.Committed install(Path image, DeltaHeader header, boolean allowNewLineage)
      throws IOException {
    TargetLock held = lockToCommit(header, allowNewLineage);
    try {
      SidecarMeta.write(meta, TargetState.of(header));
      boolean placed = false;
      try {
        placed = placeWithoutReplacing(image);
        FileStateIo.INSTANCE.fsyncDirectory(replica.getParent()); // the commit point
      } catch (IOException | RuntimeException e) {
        boolean ours = placed;
        CommitPoint.undo(
            e,
            () -> {
              if (ours) {
                Files.deleteIfExists(replica); // it was made here, a moment ago
              }
              Files.deleteIfExists(meta);
            });
        throw e;
      }
    } catch (Throwable e) {
      held.close();
      throw e;
    }
    return new LocalDelivery.Committed() {
      @Override
      public void settle() {
        try {
          Files.deleteIfExists(image); // its second name after a link; recover() removes it else
        } catch (IOException | RuntimeException e) {
          log.warn("{}: {} stays until the next use: {}", describe(), image, e.toString());
        }
        CommitPoint.closeAfter(held, log);
      }
    };
  }

  /**
   * The replica's lock, once a journal another process left is finished (or dropped, its replica
   * removed) and the replica's state, read again under it, still takes {@code header}: another
   * process may have committed meanwhile.
   */
  private TargetLock lockToCommit(DeltaHeader header, boolean allowNewLineage) throws IOException {
    TargetLock held = TargetLock.acquire(lock);
    try {
      finishJournal();
      recorded().check(header, describe(), allowNewLineage);
      return held;
    } catch (Throwable e) { // an Error too: a lock left held would stop every later use
      held.close();
      throw e;
    }
  }

  /**
   * Gives {@code image} the replica's name, refusing if a replica appeared meanwhile: a hard link
   * fails on an existing name where a rename would replace it (the image keeps its second name
   * until the caller removes it). Where the file system has no hard links, a check and a rename (a
   * file made in between by something other than cbtfs would be replaced). Returns true once the
   * replica's name is the image's.
   */
  private boolean placeWithoutReplacing(Path image) throws IOException {
    try {
      Files.createLink(replica, image);
      return true;
    } catch (FileAlreadyExistsException e) {
      throw appeared();
    } catch (IOException | UnsupportedOperationException e) {
      // no hard links here
    }
    if (Files.exists(replica, LinkOption.NOFOLLOW_LINKS)) {
      throw appeared();
    }
    Files.move(image, replica, StandardCopyOption.ATOMIC_MOVE);
    return true;
  }

  private CbtfsException appeared() {
    return new CbtfsException(
        replica + " appeared while a full sync built it anew; it was left as it is");
  }

  /**
   * Applies the journal, verified already, to the replica and sets its size; the replica then reads
   * as the journal's generation.
   */
  private DeltaHeader applyJournal() throws IOException {
    try (FileChannel in = FileChannel.open(journal, StandardOpenOption.READ);
        FileChannel out =
            FileChannel.open(
                replica,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS);
        NativeFile holes = NativeFile.openForWriting(replica)) {
      DeltaHeader header =
          VerifiedDeltaWalk.walk(
              in,
              journal.toString(),
              (offset, bytes, length) -> {
                if (bytes == null) {
                  RecordWrites.zero(out, holes::punchHole, offset, length);
                } else {
                  RecordWrites.writeFully(out, bytes, offset);
                }
              });
      RecordWrites.resize(out, header.imageSize());
      return header;
    }
  }

  /** Makes the applied journal durable in the replica, records its generation, removes it. */
  private void settle(DeltaHeader header) throws IOException {
    // the data, and the size, are durable before the generation is recorded
    FileStateIo.INSTANCE.fsync(replica, true);
    SidecarMeta.write(meta, TargetState.of(header));
    // No directory fsync: a journal that survives a crash is applied again, which is harmless.
    Files.delete(journal);
  }

  /** The sync is over: a delta it committed may settle now. */
  @Override
  public void close() {
    Settles.open(journal);
  }

  @Override
  public Comparison compare(FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    recover(); // compare with what the replica holds once a journal left by a crash is applied
    int blockSize = geometry.blockSize();
    RoaringBitmap differing = new RoaringBitmap();
    if (!Files.exists(replica)) {
      return Comparison.nothingStored();
    }
    try (FileChannel other = FileChannel.open(replica, StandardOpenOption.READ)) {
      long storedSize = other.size();
      long comparable = Math.min(storedSize, imageSize); // beyond it, the sizes decide
      byte[] a = new byte[blockSize];
      byte[] b = new byte[blockSize];
      for (long off = 0;
          off < comparable && differing.getLongCardinality() < limit;
          off += blockSize) {
        ImageReads.readFully(image, off, a, blockSize);
        ImageReads.readFully(other, off, b, blockSize);
        if (!Arrays.equals(a, b)) {
          differing.add((int) (off / blockSize));
        }
      }
      return Comparison.of(storedSize, differing);
    }
  }
}
