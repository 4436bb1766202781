package io.cbtfs.syncer.target;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.ImageReads;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.FileStateIo;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.roaringbitmap.RoaringBitmap;

/**
 * {@code file:PATH}: a replica image kept byte-identical to the source. Beside it, hidden: {@code
 * .NAME.cbtfs-meta} (lineage and generation), {@code .NAME.cbtfs-staging} (a delta being received)
 * and {@code .NAME.cbtfs-apply} (a verified delta being applied: the journal).
 *
 * <p>Apply is crash-safe: the staging file is verified completely, fsynced and renamed to the
 * journal name (the commit point) before any byte of the replica changes. Records are absolute
 * writes, so a journal found at the next use is simply applied again; a staging file found then is
 * discarded.
 */
public final class ReplicaTarget implements Target {
  private final Path replica;
  private final Path meta;
  private final Path staging;
  private final Path journal;

  public ReplicaTarget(Path replica) {
    this.replica = replica;
    String name = replica.getFileName().toString();
    this.meta = replica.resolveSibling("." + name + ".cbtfs-meta");
    this.staging = replica.resolveSibling("." + name + ".cbtfs-staging");
    this.journal = replica.resolveSibling("." + name + ".cbtfs-apply");
  }

  @Override
  public String describe() {
    return "file:" + replica;
  }

  @Override
  public TargetState state() throws IOException {
    recover();
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

  /** Finishes an interrupted apply, discards an unverified staging file. */
  private void recover() throws IOException {
    if (Files.exists(journal)) {
      StagedDelivery.verify(journal); // verified before the rename; a bad disk shows here
      applyJournal();
    }
    Files.deleteIfExists(staging);
  }

  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    Path dir = replica.getParent();
    if (!Files.isDirectory(dir)) {
      throw Targets.notADirectory(dir);
    }
    state().check(header, describe(), allowNewLineage);
    return new StagedDelivery(
        staging,
        header,
        verified -> {
          Files.move(verified, journal, StandardCopyOption.ATOMIC_MOVE);
          FileStateIo.INSTANCE.fsyncDirectory(
              dir); // the commit point: from here the apply is finished
          return applyJournal();
        });
  }

  /** Applies the journal to the replica, fsyncs, records the generation, removes the journal. */
  private long applyJournal() throws IOException {
    DeltaHeader header;
    try (FileChannel out =
        FileChannel.open(
            replica,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            LinkOption.NOFOLLOW_LINKS)) {
      header =
          StagedDelivery.read(
                  journal,
                  (kind, offset, data, length) ->
                      RecordWrites.apply(out, kind, offset, data, length))
              .header();
      RecordWrites.resize(out, header.imageSize());
      out.force(false); // the data, and the size, are durable before the generation is recorded
    }
    SidecarMeta.write(
        meta, new TargetState(true, header.lineage(), header.generation(), header.imageSize()));
    // No directory fsync: a journal that survives a crash is applied again, which is harmless.
    Files.delete(journal);
    return header.generation();
  }

  @Override
  public DirtySet differing(FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    int blockSize = geometry.blockSize();
    RoaringBitmap differing = new RoaringBitmap();
    if (!Files.exists(replica)) {
      return Target.differsEverywhere(geometry, imageSize);
    }
    try (FileChannel other = FileChannel.open(replica, StandardOpenOption.READ)) {
      if (other.size() != imageSize) {
        differing.add((int) (Math.min(other.size(), imageSize) / blockSize));
      }
      byte[] a = new byte[blockSize];
      byte[] b = new byte[blockSize];
      for (long off = 0;
          off < imageSize && differing.getLongCardinality() < limit;
          off += blockSize) {
        ImageReads.readFully(image, off, a, blockSize);
        ImageReads.readFully(other, off, b, blockSize);
        if (!Arrays.equals(a, b)) {
          differing.add((int) (off / blockSize));
        }
      }
    }
    return DirtySet.of(geometry, differing);
  }
}
