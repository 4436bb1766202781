package io.cbtfs.syncer.local;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.DeltaWriter;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.RecordSeal;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * {@code cbtfs gc archive:DIR --keep N}: keeps the last N generations of an archive and removes the
 * older ones. The oldest kept generation, K, is first made a full delta where it was an incremental
 * one (a fold: the image as of K, read verified from its chain), so that no kept generation needs a
 * removed one. The order of the steps keeps every generation the archive lists restorable if the gc
 * dies after any of them (docs/FORMAT.md, "Archive retention"):
 *
 * <ol>
 *   <li>the fold is written to {@value #FOLD}, a name no reader takes for a generation, forced, and
 *       read back verified;
 *   <li>it is renamed over {@code gen-K} and the folder synced: K's chain is now K alone, and the
 *       generations before K never read K's file;
 *   <li>the generations before K are removed newest first, the folder synced after each: whatever
 *       is left before K still has its whole chain.
 * </ol>
 *
 * Runs under the archive's sync lock: no sync (local or through a receiver) stages into it
 * meanwhile. A leftover fold of a killed gc is removed by the next gc, or the next sync.
 */
public final class ArchiveGc {
  /** The fold in the making: starts with a dot, so {@link ArchiveTarget#generationOf} skips it. */
  static final String FOLD = ".gc-fold.cbtd";

  /** A data record of the fold holds at most this much (or one block, if larger). */
  private static final int DATA_RECORD_BYTES = 1 << 20;

  /** A zero record of the fold covers at most this much of a hole. */
  private static final int ZERO_RECORD_BYTES = 16 << 20;

  /** What the fold reads through: a few records of the chain at a time. */
  private static final long CACHE_BYTES = 64L << 20;

  /**
   * What a run did (or, dry, would do).
   *
   * @param removedBytes the size of the removed generations' files
   * @param foldedGeneration the generation rewritten as a full delta, or -1
   * @param foldedBytesBefore its file's size before, or 0
   * @param foldedBytesAfter its file's size after (0 in a dry run: not written)
   */
  public record Report(
      int removedGenerations,
      int keptGenerations,
      long removedBytes,
      long foldedGeneration,
      long foldedBytesBefore,
      long foldedBytesAfter) {
    /** The bytes the archive shrank by (negative if the fold grew more than was removed). */
    public long freedBytes() {
      return removedBytes + foldedBytesBefore - foldedBytesAfter;
    }
  }

  private final ArchiveTarget archive;
  private final Path dir;
  private final GcSteps steps;

  /** A gc of {@code archive}, with the key it was given (needed to fold an encrypted chain). */
  public ArchiveGc(ArchiveTarget archive) {
    this(archive, GcSteps.REAL);
  }

  ArchiveGc(ArchiveTarget archive, GcSteps steps) {
    this.archive = archive;
    this.dir = archive.dir();
    this.steps = steps;
  }

  public String describe() {
    return archive.describe();
  }

  /**
   * @param keep generations to keep (at least 1: the newest is never removed)
   * @param dryRun say what would go; change nothing (and take no lock)
   * @throws IllegalArgumentException if {@code keep} is less than 1
   * @throws CbtfsException if the folder holds no archive, a sync to it is running, or the fold
   *     needs a key this gc was not given
   */
  public Report run(int keep, boolean dryRun) throws IOException {
    if (keep < 1) {
      throw new IllegalArgumentException("--keep must be at least 1");
    }
    if (!archive.state().exists()) {
      throw new CbtfsException(describe() + " holds no archive (no archive.meta)");
    }
    if (dryRun) {
      return plan(keep, true);
    }
    try (TargetLock held = TargetLock.tryAcquire(dir.resolve(ArchiveTarget.SYNC_LOCK))) {
      if (held == null) {
        throw new CbtfsException(
            "a sync to " + describe() + " is running (or another gc): run gc after it");
      }
      steps.delete(dir.resolve(FOLD)); // a killed gc's
      return plan(keep, false);
    }
  }

  /** Decides, then (unless {@code dryRun}) folds and removes, with the lock held. */
  private Report plan(int keep, boolean dryRun) throws IOException {
    TreeMap<Long, DeltaHeader> gens = archive.headers();
    if (gens.size() <= keep) {
      return new Report(0, gens.size(), 0, -1, 0, 0);
    }
    List<Long> listed = new ArrayList<>(gens.keySet());
    long oldestKept = listed.get(listed.size() - keep);
    requireChainsThrough(gens, oldestKept);
    DeltaHeader k = gens.get(oldestKept);
    Path kFile = dir.resolve(ArchiveTarget.fileName(oldestKept));
    long foldedBefore = 0;
    long foldedAfter = 0;
    if (!k.full()) {
      archive.requireKeyFor(oldestKept); // before anything is written
      foldedBefore = Files.size(kFile);
      if (!dryRun) {
        foldedAfter = fold(k, kFile);
      }
    }
    List<Long> expired = listed.subList(0, listed.size() - keep);
    long removedBytes = 0;
    for (int i = expired.size() - 1; i >= 0; i--) { // newest first: each older one keeps its base
      Path f = dir.resolve(ArchiveTarget.fileName(expired.get(i)));
      removedBytes += Files.size(f);
      if (!dryRun) {
        steps.delete(f);
        steps.fsyncDirectory(dir);
      }
    }
    return new Report(
        expired.size(), keep, removedBytes, k.full() ? -1 : oldestKept, foldedBefore, foldedAfter);
  }

  /**
   * Refuses unless every generation from {@code oldestKept} on reaches back no further than it (its
   * chain starts at or after it, or passes through it): then the fold of {@code oldestKept} frees
   * every later one of the generations before it.
   */
  private void requireChainsThrough(TreeMap<Long, DeltaHeader> gens, long oldestKept) {
    for (long g : gens.tailMap(oldestKept, true).keySet()) {
      List<DeltaHeader> chain = archive.chainHeaders(gens, g);
      boolean reachesBefore = chain.get(0).generation() < oldestKept;
      boolean passes = chain.stream().anyMatch(h -> h.generation() == oldestKept);
      if (reachesBefore && !passes) {
        throw new CbtfsException(
            describe()
                + ": generation "
                + g
                + " is built on generation "
                + chain.get(0).generation()
                + " without passing through "
                + oldestKept
                + "; keep more generations");
      }
    }
  }

  /**
   * Rewrites incremental generation {@code k} as a full delta of the same lineage, size, block size
   * and key, and puts it in place of {@code kFile}, keeping its time (listed as "created").
   *
   * @return the new file's size
   */
  private long fold(DeltaHeader k, Path kFile) throws IOException {
    EncryptionKey key = archive.recordKey();
    DeltaHeader full =
        new DeltaHeader(k.lineage(), k.imageSize(), k.blockSize(), 0, k.generation(), true);
    if (k.sealed()) {
      full = full.sealedWith(key.fingerprint()); // requireKeyFor checked it is k's key
    }
    Path fold = dir.resolve(FOLD);
    FileTime created = Files.getLastModifiedTime(kFile);
    try {
      write(k, full, fold, created, kFile);
    } catch (IOException | RuntimeException e) { // a damaged chain, a full disk: nothing is kept
      try {
        steps.delete(fold);
      } catch (IOException | RuntimeException cleanup) {
        e.addSuppressed(cleanup);
      }
      throw e;
    }
    long size = Files.size(fold);
    steps.rename(fold, kFile);
    steps.fsyncDirectory(dir);
    return size;
  }

  /**
   * Writes the image as of generation {@code k}, read from its chain, as delta {@code full} into
   * {@code fold}, durable and dated {@code created}; then reads it back whole, verified.
   */
  private void write(DeltaHeader k, DeltaHeader full, Path fold, FileTime created, Path kFile)
      throws IOException {
    EncryptionKey key = archive.recordKey();
    try (StoredImage image = archive.open(k.generation(), new PieceCache(CACHE_BYTES));
        FileChannel ch = steps.create(fold)) {
      OutputStream out =
          new BufferedOutputStream(
              new FoldWrites(Channels.newOutputStream(ch), fold, k.generation()), 1 << 20);
      DeltaWriter writer =
          new DeltaWriter(out, full, k.sealed() ? new RecordSeal(key.seal(), full) : null);
      writeImage(image, writer, Math.max(DATA_RECORD_BYTES, k.blockSize()));
      writer.finish();
      out.flush();
      Files.setLastModifiedTime(fold, created);
      sameAccessAs(kFile, fold);
      try {
        steps.force(ch, fold);
      } catch (IOException e) {
        throw FoldWrites.failed(e, fold, k.generation());
      }
    }
    // what was written decodes, every record's checksum and the trailer's chain hold
    DeltaHeader written = DeltaReader.read(fold, (kind, off, data, len) -> {}, key).header();
    if (!written.equals(full)) {
      throw new IOException(fold + " reads back as " + written.describe() + ", not the fold");
    }
  }

  /**
   * The fold's file as a stream whose failures name it: a write on a full disk says only "No space
   * left on device", and the operator has to know it was the archive's disk, and that the gc left
   * the archive as it was (the fold is removed, nothing else was changed yet).
   */
  private static final class FoldWrites extends FilterOutputStream {
    private final Path fold;
    private final long generation;

    FoldWrites(OutputStream out, Path fold, long generation) {
      super(out);
      this.fold = fold;
      this.generation = generation;
    }

    @Override
    public void write(int b) throws IOException {
      try {
        out.write(b);
      } catch (IOException e) {
        throw failed(e, fold, generation);
      }
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      try {
        out.write(b, off, len);
      } catch (IOException e) {
        throw failed(e, fold, generation);
      }
    }

    @Override
    public void flush() throws IOException {
      try {
        out.flush();
      } catch (IOException e) {
        throw failed(e, fold, generation);
      }
    }

    static IOException failed(IOException e, Path fold, long generation) {
      return new IOException(
          "cannot write "
              + fold
              + " (generation "
              + generation
              + " as a full delta): "
              + e.getMessage()
              + "; the archive was not changed",
          e);
    }
  }

  /**
   * Gives {@code fold} the owner, group and mode of the file it replaces: a gc run by root on a
   * receiver's archive must leave it readable by the receiver's user, and no wider than it was.
   */
  private static void sameAccessAs(Path kFile, Path fold) throws IOException {
    PosixFileAttributes k = Files.readAttributes(kFile, PosixFileAttributes.class);
    PosixFileAttributeView view = Files.getFileAttributeView(fold, PosixFileAttributeView.class);
    PosixFileAttributes now = view.readAttributes();
    if (!now.owner().equals(k.owner())) {
      view.setOwner(k.owner()); // only root may, and only root makes a file another's
    }
    if (!now.group().equals(k.group())) {
      view.setGroup(k.group());
    }
    view.setPermissions(k.permissions());
  }

  /**
   * Every byte of {@code image} as records in order: a hole as zero records (no read), stored bytes
   * in records of at most {@code dataRecordBytes} that never span a hole's start.
   */
  private static void writeImage(StoredImage image, DeltaWriter writer, int dataRecordBytes)
      throws IOException {
    RecordCodec codec = new RecordCodec();
    byte[] buf = new byte[dataRecordBytes];
    long size = image.imageSize();
    long at = 0;
    while (at < size) {
      long dataAt = image.next(at, false);
      if (dataAt > at) { // a hole up to dataAt
        int n = (int) Math.min(dataAt - at, ZERO_RECORD_BYTES);
        writer.write(codec.zero(at, n));
        at += n;
        continue;
      }
      long holeAt = image.next(at, true);
      int n = (int) Math.min(holeAt - at, dataRecordBytes);
      image.read(at, buf, n);
      writer.write(codec.encode(at, buf, n));
      at += n;
    }
  }
}
