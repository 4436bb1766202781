package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.crypto.EncryptionKey;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkObjectTest {
  /**
   * Opening a sealed chunk decodes the opened bytes where they lie: a restore or a mounted read
   * allocates the plaintext, what the cipher buffers and the chunk's bytes, no copy to re-frame it.
   */
  @Test
  void aSealedChunkDecodesWithoutACopy() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    ChunkObject codec = new ChunkObject(EncryptionKey.generate());
    int length = 1 << 20;
    byte[] data = new byte[length];
    new Random(7).nextBytes(data); // incompressible: travels raw, as large as it gets
    byte[] name = codec.name(data, length);
    ChunkObject.Encoded e = codec.encode(data, length, null, name);
    byte[] object = new byte[e.length()];
    System.arraycopy(e.head(), 0, object, 0, e.head().length);
    System.arraycopy(e.payload(), 0, object, e.head().length, e.payloadLength());
    String hex = ChunkObject.hex(name);
    assertThat(codec.decode(object, hex, "chunk")).isEqualTo(data); // warms up
    long before = threads.getCurrentThreadAllocatedBytes();
    byte[] decoded = codec.decode(object, hex, "chunk");
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertThat(decoded).isEqualTo(data);
    assertThat(allocated).isLessThan(5L * length / 2);
  }
}
