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
          while (b.hasRemaining()) {
            at += ch.write(b, at);
          }
        }

        @Override
        public void read(ByteBuffer into, long byteOffset) throws IOException {
          ImageReads.readFully(ch, byteOffset, into);
        }

        @Override
        public void close() throws IOException {
          ch.close();
        }
      };
    };
  }
}
