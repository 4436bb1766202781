package io.cbtfs.nbd;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A raw NBD client for the tests: sends exactly the bytes asked for, reads replies as they come.
 */
final class TestClient implements AutoCloseable {
  final SocketChannel channel;

  record OptionReply(int option, int type, byte[] data) {
    String text() {
      return new String(data, StandardCharsets.UTF_8);
    }
  }

  record Chunk(int flags, int type, long cookie, byte[] payload) {}

  TestClient(Path socket) throws IOException {
    channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
  }

  /** Reads the greeting and sends the client flags (fixed newstyle, no zeroes). */
  TestClient hello() throws IOException {
    ByteBuffer greeting = read(18);
    if (greeting.getLong() != Nbd.NBDMAGIC || greeting.getLong() != Nbd.IHAVEOPT) {
      throw new IOException("bad greeting");
    }
    send(ByteBuffer.allocate(4).putInt(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES).flip());
    return this;
  }

  void sendOption(int type, byte[] data) throws IOException {
    send(
        ByteBuffer.allocate(16 + data.length)
            .putLong(Nbd.IHAVEOPT)
            .putInt(type)
            .putInt(data.length)
            .put(data)
            .flip());
  }

  OptionReply readOptionReply() throws IOException {
    ByteBuffer h = read(20);
    if (h.getLong() != Nbd.OPTION_REPLY_MAGIC) {
      throw new IOException("bad option reply magic");
    }
    int option = h.getInt();
    int type = h.getInt();
    int length = h.getInt();
    byte[] data = new byte[length];
    read(length).get(data);
    return new OptionReply(option, type, data);
  }

  /** Sends an option and reads its replies up to the final one (ACK or an error). */
  List<OptionReply> option(int type, byte[] data) throws IOException {
    sendOption(type, data);
    List<OptionReply> replies = new ArrayList<>();
    while (true) {
      OptionReply r = readOptionReply();
      replies.add(r);
      if (r.type() == Nbd.REP_ACK || r.type() < 0) {
        return replies;
      }
    }
  }

  static byte[] exportQuery(String name, int... infos) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(6 + n.length + 2 * infos.length);
    b.putInt(n.length).put(n).putShort((short) infos.length);
    for (int i : infos) {
      b.putShort((short) i);
    }
    return b.array();
  }

  static byte[] metaQuery(String name, String... queries) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    int size = 8 + n.length;
    for (String q : queries) {
      size += 4 + q.getBytes(StandardCharsets.UTF_8).length;
    }
    ByteBuffer b = ByteBuffer.allocate(size).putInt(n.length).put(n).putInt(queries.length);
    for (String q : queries) {
      byte[] qb = q.getBytes(StandardCharsets.UTF_8);
      b.putInt(qb.length).put(qb);
    }
    return b.array();
  }

  /** Structured replies, contexts selected, GO: ready for requests. */
  TestClient go(String name, String... contexts) throws IOException {
    hello();
    expectAck(option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
    if (contexts.length > 0) {
      expectAck(option(Nbd.OPT_SET_META_CONTEXT, metaQuery(name, contexts)));
    }
    expectAck(option(Nbd.OPT_GO, exportQuery(name)));
    return this;
  }

  static void expectAck(List<OptionReply> replies) throws IOException {
    OptionReply last = replies.get(replies.size() - 1);
    if (last.type() != Nbd.REP_ACK) {
      throw new IOException(
          "option refused: " + Integer.toHexString(last.type()) + " " + last.text());
    }
  }

  void request(int flags, int type, long cookie, long offset, long length, byte[] payload)
      throws IOException {
    int extra = payload == null ? 0 : payload.length;
    ByteBuffer b =
        ByteBuffer.allocate(28 + extra)
            .putInt(Nbd.REQUEST_MAGIC)
            .putShort((short) flags)
            .putShort((short) type)
            .putLong(cookie)
            .putLong(offset)
            .putInt((int) length);
    if (payload != null) {
      b.put(payload);
    }
    send(b.flip());
  }

  /** The chunks of one structured reply, up to the one flagged done. */
  List<Chunk> structuredReply() throws IOException {
    List<Chunk> chunks = new ArrayList<>();
    while (true) {
      ByteBuffer h = read(4);
      int magic = h.getInt();
      if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
        ByteBuffer rest = read(12);
        int error = rest.getInt();
        long cookie = rest.getLong();
        chunks.add(
            new Chunk(
                Nbd.REPLY_FLAG_DONE, -1, cookie, ByteBuffer.allocate(4).putInt(error).array()));
        return chunks;
      }
      if (magic != Nbd.STRUCTURED_REPLY_MAGIC) {
        throw new IOException("bad reply magic " + Integer.toHexString(magic));
      }
      ByteBuffer rest = read(16);
      int flags = rest.getShort() & 0xffff;
      int type = rest.getShort() & 0xffff;
      long cookie = rest.getLong();
      int length = rest.getInt();
      byte[] payload = new byte[length];
      read(length).get(payload);
      chunks.add(new Chunk(flags, type, cookie, payload));
      if ((flags & Nbd.REPLY_FLAG_DONE) != 0) {
        return chunks;
      }
    }
  }

  /** The error of a reply: a simple reply's, or the first error chunk's; 0 if none. */
  static int errorOf(List<Chunk> chunks) {
    for (Chunk c : chunks) {
      if (c.type() == -1 || c.type() == Nbd.REPLY_TYPE_ERROR) {
        return ByteBuffer.wrap(c.payload()).getInt();
      }
    }
    return 0;
  }

  void send(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  ByteBuffer read(int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    while (b.hasRemaining()) {
      if (channel.read(b) < 0) {
        throw new java.io.EOFException("server closed after " + b.position() + " of " + n);
      }
    }
    return b.flip();
  }

  /** Whether the server closed the connection (reads the end of the stream). */
  boolean closedByServer() throws IOException {
    try {
      return channel.read(ByteBuffer.allocate(1)) < 0;
    } catch (IOException e) {
      return true;
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
