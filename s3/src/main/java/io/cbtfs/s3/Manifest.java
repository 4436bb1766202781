package io.cbtfs.s3;

import io.cbtfs.syncer.BlockHashes;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * One image generation in the store: for every block of the image, the chunk that holds it, or
 * nothing (zero). Self-contained: a restore needs this manifest and the chunks it names, never an
 * older generation. Blocks are mapped in extents (runs of blocks that are consecutive blocks of one
 * chunk) to keep it small: about 56 bytes per MiB of a fully written image.
 *
 * <p>Layout (big-endian): magic {@code CBTFSMF1}, version 1, flags (bit 0: full), lineage, image
 * size, block size, generation, base generation, creation time (ms), chunk count, extent count;
 * then per chunk its SHA-256 and length; per extent first block (long), block count, chunk index,
 * first block within the chunk (ints); then a SHA-256 over everything before it.
 */
final class Manifest {
  private static final byte[] MAGIC = "CBTFSMF1".getBytes(StandardCharsets.US_ASCII);
  private static final int VERSION = 1;
  private static final int HEAD_BYTES = 8 + 4 + 4 + 16 + 8 + 4 + 8 + 8 + 8 + 4 + 4;
  private static final int CHUNK_BYTES = 32 + 4;
  private static final int EXTENT_BYTES = 8 + 4 + 4 + 4;

  /** The largest manifest a reader accepts: a 16 TiB image written in 64K blocks, worst case. */
  static final int MAX_BYTES = 1 << 30;

  /** What a manifest says of the generation it maps. */
  record Header(
      UUID lineage,
      long imageSize,
      int blockSize,
      long generation,
      long baseGeneration,
      boolean full,
      long createdMillis) {
    long blockCount() {
      return (imageSize + blockSize - 1) / blockSize;
    }
  }

  /**
   * A run of new blocks from a delta: its chunk's hash and length, or a null hash for zeros.
   *
   * @param hash null for blocks that are zero
   */
  record Piece(long firstBlock, int blockCount, byte[] hash, int length) {
    long end() {
      return firstBlock + blockCount;
    }
  }

  final Header header;
  private final byte[] hashes;
  private final int[] lengths;
  private final long[] first;
  private final int[] count;
  private final int[] chunk;
  private final int[] pos;

  private Manifest(
      Header header,
      byte[] hashes,
      int[] lengths,
      long[] first,
      int[] count,
      int[] chunk,
      int[] pos) {
    this.header = header;
    this.hashes = hashes;
    this.lengths = lengths;
    this.first = first;
    this.count = count;
    this.chunk = chunk;
    this.pos = pos;
  }

  int chunkCount() {
    return lengths.length;
  }

  int extentCount() {
    return first.length;
  }

  String chunkHex(int c) {
    return ChunkObject.hex(Arrays.copyOfRange(hashes, c * 32, c * 32 + 32));
  }

  long extentFirst(int e) {
    return first[e];
  }

  /** The blocks extent {@code e} maps. */
  int extentBlocks(int e) {
    return count[e];
  }

  int extentChunk(int e) {
    return chunk[e];
  }

  int extentPos(int e) {
    return pos[e];
  }

  /**
   * The manifest of {@code header}'s generation: {@code base}'s mapping (null for a full delta),
   * cut to the new image size, with {@code pieces} (ascending, non-overlapping) laid over it.
   */
  static Manifest overlay(Header header, Manifest base, List<Piece> pieces) {
    long blocks = header.blockCount();
    Builder out = new Builder(header);
    List<long[]> kept = new ArrayList<>(); // {first, count, baseExtent, pos}
    if (base != null) {
      int k = 0;
      for (int e = 0; e < base.extentCount(); e++) {
        long a = base.first[e];
        long b = Math.min(a + base.count[e], blocks);
        while (k < pieces.size() && pieces.get(k).end() <= a) {
          k++;
        }
        long cur = a;
        for (int j = k; j < pieces.size() && pieces.get(j).firstBlock() < b && cur < b; j++) {
          Piece p = pieces.get(j);
          if (p.firstBlock() > cur) {
            kept.add(new long[] {cur, p.firstBlock() - cur, e, base.pos[e] + (cur - a)});
          }
          cur = Math.max(cur, p.end());
        }
        if (cur < b) {
          kept.add(new long[] {cur, b - cur, e, base.pos[e] + (cur - a)});
        }
      }
    }
    int i = 0;
    int j = 0;
    while (i < kept.size() || j < pieces.size()) {
      if (j >= pieces.size() || (i < kept.size() && kept.get(i)[0] < pieces.get(j).firstBlock())) {
        long[] k = kept.get(i++);
        int e = (int) k[2];
        int c = base.chunk[e];
        out.add(
            k[0],
            (int) k[1],
            Arrays.copyOfRange(base.hashes, c * 32, c * 32 + 32),
            base.lengths[c],
            (int) k[3]);
      } else {
        Piece p = pieces.get(j++);
        if (p.hash() != null) {
          out.add(p.firstBlock(), p.blockCount(), p.hash(), p.length(), 0);
        }
      }
    }
    return out.build();
  }

  /** Collects extents in ascending order; a chunk used by several extents is listed once. */
  private static final class Builder {
    private final Header header;
    private final Map<ByteBuffer, Integer> index = new HashMap<>();
    private byte[] hashBytes = new byte[32 * 16];
    private int[] lengths = new int[16];
    private int chunks;
    private long[] first = new long[16];
    private int[] count = new int[16];
    private int[] chunk = new int[16];
    private int[] pos = new int[16];
    private int extents;

    Builder(Header header) {
      this.header = header;
    }

    void add(long firstBlock, int blockCount, byte[] hash, int length, int posInChunk) {
      Integer c = index.get(ByteBuffer.wrap(hash));
      if (c == null) {
        c = chunks++;
        if (c * 32 + 32 > hashBytes.length) {
          hashBytes = Arrays.copyOf(hashBytes, hashBytes.length * 2);
          lengths = Arrays.copyOf(lengths, lengths.length * 2);
        }
        System.arraycopy(hash, 0, hashBytes, c * 32, 32);
        lengths[c] = length;
        index.put(ByteBuffer.wrap(hash.clone()), c);
      }
      if (extents == first.length) {
        int n = extents * 2;
        first = Arrays.copyOf(first, n);
        count = Arrays.copyOf(count, n);
        chunk = Arrays.copyOf(chunk, n);
        pos = Arrays.copyOf(pos, n);
      }
      first[extents] = firstBlock;
      count[extents] = blockCount;
      chunk[extents] = c;
      pos[extents] = posInChunk;
      extents++;
    }

    Manifest build() {
      return new Manifest(
          header,
          Arrays.copyOf(hashBytes, chunks * 32),
          Arrays.copyOf(lengths, chunks),
          Arrays.copyOf(first, extents),
          Arrays.copyOf(count, extents),
          Arrays.copyOf(chunk, extents),
          Arrays.copyOf(pos, extents));
    }
  }

  byte[] encode() {
    int n = chunkCount();
    int m = extentCount();
    ByteBuffer b =
        ByteBuffer.allocate(
            Math.toIntExact(HEAD_BYTES + (long) n * CHUNK_BYTES + (long) m * EXTENT_BYTES + 32));
    Header h = header;
    b.put(MAGIC)
        .putInt(VERSION)
        .putInt(h.full() ? 1 : 0)
        .putLong(h.lineage().getMostSignificantBits())
        .putLong(h.lineage().getLeastSignificantBits())
        .putLong(h.imageSize())
        .putInt(h.blockSize())
        .putLong(h.generation())
        .putLong(h.baseGeneration())
        .putLong(h.createdMillis())
        .putInt(n)
        .putInt(m);
    for (int c = 0; c < n; c++) {
      b.put(hashes, c * 32, 32).putInt(lengths[c]);
    }
    for (int e = 0; e < m; e++) {
      b.putLong(first[e]).putInt(count[e]).putInt(chunk[e]).putInt(pos[e]);
    }
    MessageDigest d = BlockHashes.sha256();
    d.update(b.array(), 0, b.position());
    b.put(d.digest());
    return b.array();
  }

  /**
   * @throws DamagedObjectException naming {@code where} for anything that does not add up
   */
  static Manifest decode(byte[] bytes, String where) {
    if (bytes.length < HEAD_BYTES + 32
        || !Arrays.equals(bytes, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      throw new DamagedObjectException(where, "not a cbtfs manifest");
    }
    MessageDigest d = BlockHashes.sha256();
    d.update(bytes, 0, bytes.length - 32);
    if (!Arrays.equals(d.digest(), 0, 32, bytes, bytes.length - 32, bytes.length)) {
      throw new DamagedObjectException(where, "manifest checksum mismatch");
    }
    ByteBuffer b = ByteBuffer.wrap(bytes, MAGIC.length, bytes.length - MAGIC.length);
    int version = b.getInt();
    if (version != VERSION) {
      throw new DamagedObjectException(where, "unsupported manifest version " + version);
    }
    boolean full = (b.getInt() & 1) != 0;
    UUID lineage = new UUID(b.getLong(), b.getLong());
    long imageSize = b.getLong();
    int blockSize = b.getInt();
    long generation = b.getLong();
    long base = b.getLong();
    long created = b.getLong();
    int n = b.getInt();
    int m = b.getInt();
    if (imageSize < 0
        || blockSize <= 0
        || Integer.bitCount(blockSize) != 1
        || n < 0
        || m < 0
        || bytes.length != HEAD_BYTES + (long) n * CHUNK_BYTES + (long) m * EXTENT_BYTES + 32) {
      throw new DamagedObjectException(where, "manifest sizes do not add up");
    }
    Header h = new Header(lineage, imageSize, blockSize, generation, base, full, created);
    byte[] hashes = new byte[n * 32];
    int[] lengths = new int[n];
    for (int c = 0; c < n; c++) {
      b.get(hashes, c * 32, 32);
      lengths[c] = b.getInt();
      if (lengths[c] <= 0 || lengths[c] > ChunkObject.MAX_BYTES) {
        throw new DamagedObjectException(where, "chunk " + c + " has a bad length");
      }
    }
    long[] first = new long[m];
    int[] count = new int[m];
    int[] chunk = new int[m];
    int[] pos = new int[m];
    long next = 0;
    for (int e = 0; e < m; e++) {
      first[e] = b.getLong();
      count[e] = b.getInt();
      chunk[e] = b.getInt();
      pos[e] = b.getInt();
      if (first[e] < next
          || count[e] <= 0
          || first[e] > h.blockCount() - count[e]
          || chunk[e] < 0
          || chunk[e] >= n
          || pos[e] < 0
          || ((long) pos[e] + count[e] - 1) * blockSize >= lengths[chunk[e]]) {
        throw new DamagedObjectException(where, "extent " + e + " is out of bounds or order");
      }
      next = first[e] + count[e];
    }
    return new Manifest(h, hashes, lengths, first, count, chunk, pos);
  }

  /** The blocks of the image the chunks hold (zero blocks excluded). */
  long mappedBlocks() {
    long sum = 0;
    for (int c : count) {
      sum += c;
    }
    return sum;
  }
}
