package io.cbtfs.syncer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Where a {@link Fleece} keeps the old bytes of blocks: a scratch file, or what a test injects.
 *
 * <p>Thread safety: positional calls from many threads at once.
 */
public interface FleeceStore extends AutoCloseable {
  /** Writes all of {@code from} (position to limit) at {@code byteOffset}. */
  void write(ByteBuffer from, long byteOffset) throws IOException;

  /** Fills {@code into} (position to limit) from {@code byteOffset}. */
  void read(ByteBuffer into, long byteOffset) throws IOException;

  /**
   * The bytes the store's disk can still give a fleece, leaving {@link #KEPT_FREE} for the tracking
   * state beside it; unbounded unless the store is on a disk.
   */
  default long room() throws IOException {
    return Long.MAX_VALUE;
  }

  /**
   * What a fleece leaves free on the disk it shares with the tracking state: a save of the state
   * (the drain's, or one a write's bulk operation waits for) must never fail because the fleece
   * took the space, or a guest write would fail with it.
   */
  long KEPT_FREE = 16L << 20;

  /** Where the store is, for messages. */
  default String where() {
    return "the fleece";
  }

  @Override
  void close() throws IOException;

  /** Opens a sync's store for the image named {@code imageName}. */
  interface Opener {
    FleeceStore open(String imageName) throws IOException;
  }

  /**
   * A scratch file in {@code dir}, unlinked as soon as it is open: nothing is left behind, even by
   * a crash (the fleece only matters while its sync runs).
   */
  static Opener scratchIn(Path dir) {
    return imageName -> {
      Path file = Files.createTempFile(dir, ".fleece-", ".tmp");
      FileChannel ch;
      try {
        ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
      } finally {
        Files.delete(file);
      }
      return new FleeceStore() {
        @Override
        public void write(ByteBuffer from, long byteOffset) throws IOException {
          ByteBuffer b = from.duplicate();
          long at = byteOffset;
          try {
            while (b.hasRemaining()) {
              at += ch.write(b, at);
            }
          } catch (IOException e) { // a bare "No space left on device" names no folder
            throw new IOException("cannot write the fleece in " + dir + ": " + e.getMessage(), e);
          }
        }

        @Override
        public void read(ByteBuffer into, long byteOffset) throws IOException {
          ImageReads.readFully(ch, byteOffset, into);
        }

        @Override
        public long room() throws IOException {
          return Math.max(0, Files.getFileStore(dir).getUsableSpace() - KEPT_FREE);
        }

        @Override
        public String where() {
          return dir.toString();
        }

        @Override
        public void close() throws IOException {
          ch.close();
        }
      };
    };
  }
}
