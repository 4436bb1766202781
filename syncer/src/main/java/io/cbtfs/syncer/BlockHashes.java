package io.cbtfs.syncer;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * SHA-256 of every block of an image, the unit a remote comparison exchanges: 32 bytes per block
 * travel instead of the block (0.05% of the image at 64K blocks).
 */
public final class BlockHashes {
  public static final int BYTES = 32;
  private static final int READ_BYTES = 1 << 20;

  private BlockHashes() {}

  /** Receives one block's hash; {@code hash} is reused after the call returns. */
  @FunctionalInterface
  public interface Sink {
    void accept(long block, byte[] hash) throws IOException;
  }

  /**
   * Hashes the blocks of {@code ch} from block 0 up to {@code size} bytes (the last block may be
   * short: only its bytes are hashed), in order, reading a MiB at a time.
   */
  public static void forEach(FileChannel ch, long size, int blockSize, Sink sink)
      throws IOException {
    MessageDigest d = sha256();
    int perRead = Math.max(1, READ_BYTES / blockSize);
    byte[] buf = new byte[perRead * blockSize];
    byte[] hash = new byte[BYTES];
    long block = 0;
    for (long at = 0; at < size; at += buf.length) {
      int len = (int) Math.min(buf.length, size - at);
      ImageReads.readFully(ch, at, buf, len);
      for (int off = 0; off < len; off += blockSize) {
        d.update(buf, off, Math.min(blockSize, len - off));
        try {
          d.digest(hash, 0, BYTES);
        } catch (java.security.DigestException e) {
          throw new IllegalStateException(e);
        }
        sink.accept(block++, hash);
      }
    }
  }

  /** A SHA-256 digest: the one hash of the delta chain, chunk names, block hashes and pins. */
  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
