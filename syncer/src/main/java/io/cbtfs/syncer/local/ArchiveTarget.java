package io.cbtfs.syncer.local;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.FileStateIo;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.TreeMap;

/**
 * {@code archive:DIR}: a backup chain. Every committed generation is one delta file, {@code
 * gen-NNNNNNNN.cbtd}, each verifiable on its own: a full base, then incremental deltas. {@link
 * #restore} rebuilds the image as of any generation from the latest full delta at or before it and
 * the incremental ones after it. {@code archive.meta} records lineage and the last generation.
 * {@link ArchiveGc} removes the oldest generations ({@code cbtfs gc}).
 */
public final class ArchiveTarget implements Restorable {
  private static final String STAGING = ".staging.cbtd";

  /** Held by the one sync that stages a delta here, or by a gc ({@link ArchiveGc}). */
  static final String SYNC_LOCK = ".cbtfs-sync";

  private final Path dir;
  private final EncryptionKey key; // null: deltas in clear (or only stored, on a receiver)
  private final ArchiveReader reader; // the read side: the same for a receiver's archive

  public ArchiveTarget(Path dir) {
    this(dir, null);
  }

  /**
   * @param key seals the records of what a sync sends here and opens them for restore and verify
   */
  public ArchiveTarget(Path dir, EncryptionKey key) {
    this.dir = dir;
    this.key = key;
    this.reader = new ArchiveReader(ArchiveFiles.in(dir), describe(), key);
  }

  /** The archive's folder. */
  Path dir() {
    return dir;
  }

  @Override
  public EncryptionKey recordKey() {
    return key;
  }

  @Override
  public String describe() {
    return "archive:" + dir;
  }

  /** A chain is one image's history: numbers restart with another lineage and would collide. */
  @Override
  public String otherImageAdvice() {
    return "sync to a new archive folder, or move this one away first";
  }

  @Override
  public java.util.Optional<Path> localPath() {
    return java.util.Optional.of(Targets.realFolder(dir));
  }

  public static String fileName(long generation) {
    return String.format(Locale.ROOT, "gen-%08d.cbtd", generation);
  }

  /**
   * The generation a file of the archive holds, by its name as {@link #fileName} spells it, or -1.
   * At least eight digits, more from 10^8 on: each mount skips the numbers ahead by about a
   * million, so a host remounted daily gets there within months.
   */
  public static long generationOf(String name) {
    if (!name.matches("gen-\\d{8,19}\\.cbtd")) {
      return -1;
    }
    try {
      long generation = Long.parseLong(name.substring(4, name.length() - 5));
      return fileName(generation).equals(name) ? generation : -1;
    } catch (NumberFormatException beyondLong) {
      return -1;
    }
  }

  /** What {@code archive.meta} records: a read that changes nothing in the folder. */
  @Override
  public TargetState state() throws IOException {
    if (!Files.isDirectory(dir)) {
      return TargetState.EMPTY;
    }
    return SidecarMeta.read(dir.resolve(ArchiveFiles.META));
  }

  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new CbtfsException(describe() + ": " + dir + " exists and is not a folder");
    }
    Files.createDirectories(dir);
    TargetLock syncing = TargetLock.tryAcquire(dir.resolve(SYNC_LOCK));
    if (syncing == null) {
      throw new CbtfsException(
          "another sync to "
              + describe()
              + " is running, or a gc of it; one sync per archive at a time");
    }
    try {
      return begin(header, allowNewLineage, syncing);
    } catch (IOException | RuntimeException | Error e) {
      syncing.close();
      throw e;
    }
  }

  /**
   * With this sync's lock held: discards what an interrupted sync or gc left (nobody else can be
   * writing it now), checks the delta and starts staging it.
   */
  private Delivery begin(DeltaHeader header, boolean allowNewLineage, TargetLock syncing)
      throws IOException {
    Files.deleteIfExists(dir.resolve(STAGING));
    Files.deleteIfExists(dir.resolve(ArchiveGc.FOLD));
    TargetState before = SidecarMeta.read(dir.resolve(ArchiveFiles.META));
    if (before.exists() && !before.lineage().equals(header.lineage())) {
      // a chain is one image's history; numbers restart with a new lineage and would collide
      throw new CbtfsException(
          describe()
              + " holds the backup chain of another image lineage ("
              + before.lineage()
              + ", generation "
              + before.generation()
              + "): "
              + otherImageAdvice());
    }
    before.check(header, describe(), allowNewLineage);
    requireSameKey(header, before);
    return new LocalDelivery(
        StagingFile.ofDelta(dir.resolve(STAGING)),
        header,
        (verified, h) -> store(verified, h, before),
        syncing);
  }

  /**
   * Refuses an incremental delta sealed with another key than the generation it continues, or
   * sealed where that one was not (or the reverse): a chain is one key's. A full delta starts a new
   * chain under its own key (key rotation). Checked from the headers alone, so a receiver without
   * any key enforces it too.
   */
  private void requireSameKey(DeltaHeader header, TargetState before) throws IOException {
    if (!before.exists() || header.full()) {
      return;
    }
    DeltaHeader last = headers().get(before.generation());
    if (last == null || java.util.Objects.equals(last.keyId(), header.keyId())) {
      return;
    }
    throw new CbtfsException(
        describe()
            + " holds generation "
            + before.generation()
            + (last.sealed() ? " encrypted with key " + last.keyId() + "…" : " unencrypted")
            + ", the delta is "
            + (header.sealed() ? "encrypted with key " + header.keyId() + "…" : "unencrypted")
            + ": give the archive's --encrypt-key, or start a new chain with --full "
            + "(key rotation)");
  }

  /**
   * Keeps the verified delta as generation {@code header}'s file, then records it: the commit
   * point. A failure before it takes the file back, so the archive is as it was ({@code before}).
   */
  private LocalDelivery.Committed store(Path verified, DeltaHeader header, TargetState before)
      throws IOException {
    Path stored = dir.resolve(fileName(header.generation()));
    try {
      Files.move(
          verified, stored, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      FileStateIo.INSTANCE.fsyncDirectory(dir);
      // the commit point: the archive's record of its last generation
      SidecarMeta.commit(dir.resolve(ArchiveFiles.META), before, TargetState.of(header));
    } catch (IOException | RuntimeException e) {
      // a generation the archive does not record is not kept; but while the record may
      // name it (its old value could not be put back), its file stays
      CommitPoint.undo(
          e,
          () -> {
            if (SidecarMeta.read(dir.resolve(ArchiveFiles.META)).equals(before)) {
              Files.deleteIfExists(stored);
            }
          });
      throw e;
    }
    return LocalDelivery.Committed.NOTHING;
  }

  @Override
  public List<Generation> generations() throws IOException {
    return reader.generations();
  }

  /** The generations stored, in order, with their headers ({@link ArchiveReader#headers}). */
  TreeMap<Long, DeltaHeader> headers() throws IOException {
    return reader.headers();
  }

  /** {@link ArchiveReader#chainHeaders}. */
  List<DeltaHeader> chainHeaders(TreeMap<Long, DeltaHeader> gens, long generation) {
    return reader.chainHeaders(gens, generation);
  }

  /**
   * Writes the image as of {@code generation} to {@code out} (which must not exist). Every delta of
   * the chain is verified before anything is written.
   */
  @Override
  public DeltaHeader restore(long generation, Path out, RestoreProgress progress)
      throws IOException {
    return reader.restore(generation, out, progress);
  }

  @Override
  public void requireKeyFor(long generation) throws IOException {
    reader.requireKeyFor(generation);
  }

  @Override
  public StoredImage open(long generation, PieceCache cache) throws IOException {
    return reader.open(generation, cache);
  }

  @Override
  public Comparison compare(
      long generation, FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    return reader.compare(generation, image, imageSize, geometry, limit);
  }
}
