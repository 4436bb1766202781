package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes what the server sends: the greeting, option replies, simple replies and structured reply
 * chunks. Headers are built in one heap buffer; a read's data goes out of the caller's buffer with
 * no copy. Not thread-safe: one session writes.
 */
final class ReplyWriter {
  private final WritableByteChannel channel;
  private ByteBuffer header = ByteBuffer.allocate(4 << 10);

  ReplyWriter(WritableByteChannel channel) {
    this.channel = channel;
  }

  /** The first bytes of the fixed newstyle handshake. */
  void greeting() throws IOException {
    start(18)
        .putLong(Nbd.NBDMAGIC)
        .putLong(Nbd.IHAVEOPT)
        .putShort((short) (Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES));
    send(null);
  }

  /** An option reply with {@code data} (may be empty). */
  void optionReply(int option, int replyType, byte[] data) throws IOException {
    start(20 + data.length)
        .putLong(Nbd.OPTION_REPLY_MAGIC)
        .putInt(option)
        .putInt(replyType)
        .putInt(data.length)
        .put(data);
    send(null);
  }

  /** An option error reply with a message for the user. */
  void optionError(int option, int replyType, String message) throws IOException {
    optionReply(option, replyType, truncated(message));
  }

  /** The answer to {@code NBD_OPT_EXPORT_NAME}: size, flags, and the padding unless dropped. */
  void exportNameReply(long size, int transmissionFlags, boolean noZeroes) throws IOException {
    ByteBuffer b =
        start(10 + (noZeroes ? 0 : 124)).putLong(size).putShort((short) transmissionFlags);
    if (!noZeroes) {
      b.put(new byte[124]);
    }
    send(null);
  }

  /** A simple reply; {@code data} (or null) follows it only for a successful read. */
  void simpleReply(long cookie, int error, ByteBuffer data) throws IOException {
    start(16).putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(cookie);
    send(data);
  }

  /** An {@code NBD_REPLY_TYPE_OFFSET_DATA} chunk with {@code data}'s remaining bytes. */
  void dataChunk(long cookie, long byteOffset, ByteBuffer data, boolean done) throws IOException {
    chunkHeader(cookie, Nbd.REPLY_TYPE_OFFSET_DATA, done, 8 + data.remaining()).putLong(byteOffset);
    send(data);
  }

  /** An {@code NBD_REPLY_TYPE_OFFSET_HOLE} chunk: {@code byteLength} bytes of zeroes. */
  void holeChunk(long cookie, long byteOffset, int byteLength, boolean done) throws IOException {
    chunkHeader(cookie, Nbd.REPLY_TYPE_OFFSET_HOLE, done, 12)
        .putLong(byteOffset)
        .putInt(byteLength);
    send(null);
  }

  /** An {@code NBD_REPLY_TYPE_BLOCK_STATUS} chunk of one context. */
  void blockStatusChunk(long cookie, int contextId, List<Extent> extents, boolean done)
      throws IOException {
    ByteBuffer b =
        chunkHeader(cookie, Nbd.REPLY_TYPE_BLOCK_STATUS, done, 4 + 8 * extents.size())
            .putInt(contextId);
    for (Extent e : extents) {
      b.putInt((int) e.byteLength()).putInt(e.flags());
    }
    send(null);
  }

  /** An {@code NBD_REPLY_TYPE_ERROR} chunk, the last of its reply. */
  void errorChunk(long cookie, int error, String message) throws IOException {
    byte[] text = truncated(message);
    chunkHeader(cookie, Nbd.REPLY_TYPE_ERROR, true, 6 + text.length)
        .putInt(error)
        .putShort((short) text.length)
        .put(text);
    send(null);
  }

  /**
   * Starts a chunk whose payload is {@code length} bytes: all of them go in the header buffer but a
   * data chunk's data, sent from the caller's buffer after its 8-byte offset.
   */
  private ByteBuffer chunkHeader(long cookie, int type, boolean done, int length) {
    int buffered = type == Nbd.REPLY_TYPE_OFFSET_DATA ? 8 : length;
    return start(20 + buffered)
        .putInt(Nbd.STRUCTURED_REPLY_MAGIC)
        .putShort((short) (done ? Nbd.REPLY_FLAG_DONE : 0))
        .putShort((short) type)
        .putLong(cookie)
        .putInt(length);
  }

  private ByteBuffer start(int byteCount) {
    if (header.capacity() < byteCount) {
      header = ByteBuffer.allocate(byteCount);
    }
    return header.clear();
  }

  private void send(ByteBuffer data) throws IOException {
    header.flip();
    while (header.hasRemaining()) {
      channel.write(header);
    }
    if (data != null) {
      while (data.hasRemaining()) {
        channel.write(data);
      }
    }
  }

  private static byte[] truncated(String message) {
    byte[] text = message.getBytes(StandardCharsets.UTF_8);
    return text.length <= Nbd.MAX_STRING_BYTES ? text : java.util.Arrays.copyOf(text, 1024);
  }
}
