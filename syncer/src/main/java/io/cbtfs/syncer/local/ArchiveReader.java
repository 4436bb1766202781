package io.cbtfs.syncer.local;

import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaIndex;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.ImageReads;
import io.cbtfs.syncer.NativeFile;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.PieceMap;
import io.cbtfs.syncer.PositionalFile;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import org.roaringbitmap.RoaringBitmap;

/**
 * The read side of an archive, over its {@link ArchiveFiles} (a local folder or a receiver's): its
 * recorded state, its generations, and each generation restored or read in place. Everything read
 * is checked here, on the reader's side, whoever stores the files: headers, the chain of deltas,
 * every record (CRC32C, the trailer's SHA-256 chain, the seals). Thread-safe.
 */
public final class ArchiveReader {
  private final ArchiveFiles files;
  private final String describe;
  private final EncryptionKey key; // null: deltas in clear
  private final boolean snapshot;
  private TreeMap<Long, Stored> read; // with snapshot: the headers, read once; guarded by this

  /**
   * @param describe how messages name the archive ({@code archive:DIR}, a {@code cbtfs://} URI)
   * @param key opens sealed records (null: none can be opened)
   */
  public ArchiveReader(ArchiveFiles files, String describe, EncryptionKey key) {
    this(files, describe, key, false);
  }

  /**
   * @param snapshot whether {@code files} lists the same files every time (a receiver's list, taken
   *     once): the generations' headers are then read once, not at every call (over the network, a
   *     round trip per generation each time)
   */
  public ArchiveReader(ArchiveFiles files, String describe, EncryptionKey key, boolean snapshot) {
    this.files = files;
    this.describe = describe;
    this.key = key;
    this.snapshot = snapshot;
  }

  /** What {@code archive.meta} records; empty if there is none. */
  public TargetState recorded() throws IOException {
    byte[] b;
    try (PositionalFile f = files.open(ArchiveFiles.META);
        InputStream in = f.stream(0, 64)) {
      b = in.readNBytes(1024); // the file is 48 bytes: more is damage, which parse refuses
    } catch (NoSuchFileException e) {
      return TargetState.EMPTY;
    }
    return SidecarMeta.parse(b, files.where(ArchiveFiles.META));
  }

  /** A generation's header, and its file as listed. */
  private record Stored(DeltaHeader header, ArchiveFiles.Listed file) {}

  /**
   * The generations stored, in order: those of the lineage the archive records, up to the
   * generation it records (a file beyond it is a commit that did not complete, and is not read).
   */
  private TreeMap<Long, Stored> stored() throws IOException {
    if (!snapshot) {
      return readStored();
    }
    synchronized (this) {
      if (read == null) {
        read = readStored();
      }
      return read;
    }
  }

  private TreeMap<Long, Stored> readStored() throws IOException {
    TreeMap<Long, Stored> gens = new TreeMap<>();
    TargetState recorded = recorded();
    for (ArchiveFiles.Listed l : files.list()) {
      long named = ArchiveTarget.generationOf(l.name());
      if (named >= 0 && (!recorded.exists() || named <= recorded.generation())) {
        DeltaHeader h;
        try (PositionalFile f = files.open(l.name());
            InputStream in = f.stream(0, DeltaHeader.BYTES)) {
          h = DeltaReader.readHeader(in, files.where(l.name()));
        }
        if (!recorded.exists()
            || (h.lineage().equals(recorded.lineage())
                && h.generation() <= recorded.generation())) {
          gens.put(h.generation(), new Stored(h, l));
        }
      }
    }
    return gens;
  }

  /** The headers of the generations stored, in order (see {@link #stored}). */
  public TreeMap<Long, DeltaHeader> headers() throws IOException {
    TreeMap<Long, DeltaHeader> out = new TreeMap<>();
    stored().forEach((g, s) -> out.put(g, s.header()));
    return out;
  }

  /** The generations held, oldest first. */
  public List<Restorable.Generation> generations() throws IOException {
    List<Restorable.Generation> out = new ArrayList<>();
    for (Stored s : stored().values()) {
      DeltaHeader h = s.header();
      out.add(
          new Restorable.Generation(
              h.generation(), h.full(), h.imageSize(), s.file().modified(), s.file().byteSize()));
    }
    return out;
  }

  /**
   * The headers of the deltas that rebuild generation {@code generation}: the latest full delta at
   * or before it, then every incremental one up to it, each continuing the one before.
   *
   * @throws CbtfsException if the generation is not there or the chain has a gap
   */
  public List<DeltaHeader> chainHeaders(TreeMap<Long, DeltaHeader> gens, long generation) {
    if (!gens.containsKey(generation)) {
      throw new CbtfsException(
          describe
              + " has no generation "
              + generation
              + " (it has "
              + (gens.isEmpty() ? "none" : gens.firstKey() + " to " + gens.lastKey())
              + (!gens.isEmpty() && generation < gens.firstKey()
                  ? "; a gc may have removed it"
                  : "")
              + ")");
    }
    List<DeltaHeader> headers = new ArrayList<>();
    long g = generation;
    while (true) {
      DeltaHeader h = gens.get(g);
      if (h == null) {
        throw new CbtfsException(
            describe + ": the chain to generation " + generation + " misses generation " + g);
      }
      if (!h.lineage().equals(gens.get(generation).lineage())) {
        throw new CbtfsException(
            describe + ": generation " + g + " belongs to another image lineage");
      }
      headers.add(0, h);
      if (h.full()) {
        return headers;
      }
      g = h.baseGeneration();
    }
  }

  /** The names of the files of {@link #chainHeaders}, in the same order. */
  private List<String> chain(long generation) throws IOException {
    List<String> names = new ArrayList<>();
    for (DeltaHeader h : chainHeaders(headers(), generation)) {
      names.add(ArchiveTarget.fileName(h.generation()));
    }
    return names;
  }

  /**
   * Writes the image as of {@code generation} to {@code out} (which must not exist). Every delta of
   * the chain is verified before anything is written.
   */
  public DeltaHeader restore(long generation, Path out, Restorable.RestoreProgress progress)
      throws IOException {
    List<String> chain = chain(generation);
    for (String name : chain) {
      read(name, (kind, offset, data, length) -> {}); // opens each sealed record
    }
    DeltaHeader last = null;
    FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    try (ch;
        NativeFile holes = NativeFile.openForWriting(out)) {
      for (String name : chain) {
        // the full delta's zero records lie past the end (a hole); a later one's are punched
        last =
            read(
                    name,
                    (kind, offset, data, length) ->
                        RecordWrites.apply(ch, holes::punchHole, kind, offset, data, length))
                .header();
        RecordWrites.resize(ch, last.imageSize());
      }
      ch.force(true);
      progress.update(last.imageSize(), last.imageSize());
    } catch (IOException | RuntimeException e) {
      // a delta that changed since it was checked (a gc's fold, a receiver gone): no image
      // half written may stay behind under the name asked for
      try {
        Files.deleteIfExists(out);
      } catch (IOException notRemoved) {
        e.addSuppressed(notRemoved);
      }
      throw e;
    }
    return last;
  }

  /** Reads and verifies the whole delta {@code name}, handing each record to {@code sink}. */
  private DeltaReader.Summary read(String name, DeltaReader.RecordSink sink) throws IOException {
    try (PositionalFile f = files.open(name);
        InputStream in = f.stream(0, 1 << 20)) {
      return DeltaReader.read(in, files.where(name), sink, key);
    }
  }

  /**
   * Refuses generation {@code generation} if a delta of its chain is sealed and this reader was
   * given no key or another one: from the headers alone, before a record is read.
   */
  public void requireKeyFor(long generation) throws IOException {
    for (DeltaHeader h : chainHeaders(headers(), generation)) {
      String refusal = h.sealed() ? EncryptionKey.refusal(key, h.keyId()) : null;
      if (refusal != null) {
        throw new CbtfsException(describe + ": generation " + h.generation() + " " + refusal);
      }
    }
  }

  /**
   * Generation {@code generation} read in place: each delta of its chain is indexed from its record
   * headers (checked against its trailer's SHA-256 chain), laid over the one before as a restore
   * applies them; a read decodes and checks only the records it touches.
   */
  public StoredImage open(long generation, PieceCache cache) throws IOException {
    List<PositionalFile> opened = new ArrayList<>();
    List<PieceCache.Loader> pieces = new ArrayList<>(); // a data record each, by piece number
    PieceMap.Builder map = new PieceMap.Builder();
    try {
      long size = 0;
      for (String name : chain(generation)) {
        PositionalFile f = files.open(name);
        opened.add(f);
        DeltaIndex index = DeltaIndex.of(f, files.where(name), key); // a sealed one: read whole
        for (DeltaIndex.Entry e : index.entries()) {
          long end = e.byteOffset() + e.byteLength();
          if (e.kind() == RecordKind.ZERO) {
            map.clear(e.byteOffset(), end);
          } else {
            map.lay(e.byteOffset(), end, pieces.size(), 0);
            pieces.add(() -> index.read(e));
          }
        }
        size = index.header().imageSize();
        map.resize(size); // as a restore truncates after each delta
      }
      return new StoredImage(
          map.build(size), piece -> pieces.get(piece).load(), cache, () -> closeAll(opened));
    } catch (IOException | RuntimeException e) {
      closeAll(opened);
      throw e;
    }
  }

  /**
   * Compares {@code image} with generation {@code generation} below the smaller size, at most about
   * {@code limit} differing blocks ({@link Restorable#compare}); each delta read and checked once.
   */
  public Comparison compare(
      long generation, FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    int blockSize = geometry.blockSize();
    TreeMap<Long, DeltaHeader> gens = headers();
    List<DeltaHeader> chain = chainHeaders(gens, generation);
    long storedSize = gens.get(generation).imageSize();
    RoaringBitmap differing = new RoaringBitmap();
    long comparable = Math.min(storedSize, imageSize); // beyond it, the sizes decide
    // Newest first: the first record that covers a block holds its bytes as of that generation.
    // A restore truncates to each delta's size after it, so the bytes of an older record past
    // the smallest size since are gone (zeros): only records below that size count.
    RoaringBitmap seen = new RoaringBitmap();
    byte[][] mine = {new byte[0]};
    long[] valid = {Long.MAX_VALUE};
    for (int i = chain.size() - 1; i >= 0 && differing.getLongCardinality() < limit; i--) {
      DeltaHeader h = chain.get(i);
      valid[0] = Math.min(valid[0], h.imageSize());
      long below = Math.min(valid[0], comparable);
      read(
          ArchiveTarget.fileName(h.generation()),
          (kind, offset, data, whole) -> {
            int length = (int) Math.max(0, Math.min(whole, below - offset));
            long first = offset / blockSize;
            if (length == 0
                || seen.contains(first, (offset + length + blockSize - 1) / blockSize)) {
              return; // past what counts, or a newer generation decided every block of it
            }
            if (mine[0].length < length) {
              mine[0] = new byte[length];
            }
            ImageReads.readFully(image, offset, mine[0], length);
            for (int at = 0; at < length; at += blockSize) {
              int block = (int) ((offset + at) / blockSize);
              int len = Math.min(blockSize, length - at);
              if (seen.checkedAdd(block)) {
                boolean same =
                    data == null
                        ? RecordCodec.isZero(mine[0], at, at + len)
                        : Arrays.equals(data, at, at + len, mine[0], at, at + len);
                if (!same && differing.getLongCardinality() < limit) {
                  differing.add(block);
                }
              }
            }
          });
    }
    // what no record covers is zeros in the stored generation (a hole, or a truncated tail)
    long comparableBlocks = (comparable + blockSize - 1) / blockSize;
    RoaringBitmap unseen = RoaringBitmap.flip(seen, 0L, comparableBlocks);
    unseen.andNot(differing);
    byte[] block = new byte[blockSize];
    for (var it = unseen.getIntIterator();
        it.hasNext() && differing.getLongCardinality() < limit; ) {
      int b = it.next();
      long at = (long) b * blockSize;
      int len = (int) Math.min(blockSize, comparable - at);
      ImageReads.readFully(image, at, block, len);
      if (!RecordCodec.isZero(block, 0, len)) {
        differing.add(b);
      }
    }
    return Comparison.of(storedSize, differing);
  }

  private static void closeAll(List<PositionalFile> opened) throws IOException {
    for (PositionalFile f : opened) {
      f.close();
    }
  }
}
