package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * The transmission phase of one session: requests one at a time, each checked ({@link
 * RequestCheck}) and answered before the next is read, through one direct buffer of {@link
 * #PIECE_BYTES}. An export's I/O error is answered as an NBD error and the session goes on.
 */
final class Transmission {
  /**
   * Requests are served in pieces of this size: one direct buffer per session, from the mount's
   * direct-memory budget that its syncs share (16 sessions: 4 MiB).
   */
  static final int PIECE_BYTES = 256 << 10;

  /** Allocation lookups one read makes to answer holes as holes ("where cheap"). */
  static final int MAX_READ_EXTENTS = 16;

  private final WireInput in;
  private final ReplyWriter out;
  private final WritableByteChannel channel;
  private final ExportedImage export;
  private final boolean structured;
  private final RequestCheck check;
  private final AllocationExtents holes;
  private final List<ExtentSource> sources = new ArrayList<>();
  private ByteBuffer piece;

  Transmission(WireInput in, ReplyWriter out, WritableByteChannel channel, Negotiated negotiated)
      throws IOException {
    this.in = in;
    this.out = out;
    this.channel = channel;
    this.export = negotiated.export();
    this.structured = negotiated.structured();
    this.check =
        new RequestCheck(
            negotiated.size(), negotiated.writable(), structured, negotiated.contexts().size());
    this.holes = new AllocationExtents(export);
    for (String name : negotiated.contexts()) {
      sources.add(MetaContexts.source(name, export));
    }
  }

  /** Serves requests until the client disconnects ({@code NBD_CMD_DISC} or the end of stream). */
  void run() throws IOException {
    while (!in.atEnd()) {
      Request request = Request.read(in);
      int error = check.errorOf(request);
      if (error != 0) {
        refuse(request, error);
        continue;
      }
      switch (request.type()) {
        case Nbd.CMD_DISC -> {
          return;
        }
        case Nbd.CMD_READ -> read(request);
        case Nbd.CMD_WRITE -> write(request);
        case Nbd.CMD_FLUSH -> answer(request, export::flush);
        case Nbd.CMD_TRIM -> answer(request, () -> trim(request));
        case Nbd.CMD_BLOCK_STATUS -> blockStatus(request);
        default -> refuse(request, Nbd.EINVAL); // RequestCheck lets no other type through
      }
    }
  }

  /** Answers a refused request; a write's payload is read and dropped (too long: hang up). */
  private void refuse(Request request, int error) throws IOException {
    if (request.type() == Nbd.CMD_WRITE) {
      if (request.length() > Nbd.MAX_PAYLOAD_BYTES) {
        String tooLong = "write of " + request.length() + " bytes: too long";
        replyError(request, error, tooLong);
        throw new NbdProtocolException(tooLong);
      }
      in.skip(request.length());
    }
    replyError(request, error, describe(error, request));
  }

  private static String describe(int error, Request request) {
    return switch (error) {
      case Nbd.EPERM -> "the export is read-only";
      case Nbd.ESHUTDOWN -> "the export was withdrawn";
      case Nbd.ENOSPC -> "write past the end of the export";
      default ->
          "invalid request: type "
              + request.type()
              + ", flags "
              + request.flags()
              + ", offset "
              + Long.toUnsignedString(request.offset())
              + ", length "
              + request.length();
    };
  }

  private void replyError(Request request, int error, String message) throws IOException {
    if (structured) {
      out.errorChunk(request.cookie(), error, message);
    } else {
      out.simpleReply(request.cookie(), error, null);
    }
  }

  @FunctionalInterface
  private interface ExportCall {
    void run() throws IOException;
  }

  /** Runs {@code call} on the export and answers success, or its error. */
  private void answer(Request request, ExportCall call) throws IOException {
    try {
      call.run();
    } catch (IOException e) {
      replyError(request, errorOf(e), String.valueOf(e.getMessage()));
      return;
    }
    out.simpleReply(request.cookie(), 0, null);
  }

  private void trim(Request request) throws IOException {
    export.trim(request.offset(), request.length());
    if (request.has(Nbd.CMD_FLAG_FUA)) {
      export.flush();
    }
  }

  private static int errorOf(IOException e) {
    return e instanceof ExportIoException x ? x.nbdError() : Nbd.EIO;
  }

  private ByteBuffer piece() {
    if (piece == null) {
      piece = ByteBuffer.allocateDirect(PIECE_BYTES);
    }
    return piece.clear();
  }

  /** Reads {@code byteLength} bytes at {@code byteOffset} into the piece, zeroes past the end. */
  private ByteBuffer readPiece(long byteOffset, int byteLength) throws IOException {
    ByteBuffer b = piece().limit(byteLength);
    int n = export.read(b.duplicate(), byteOffset);
    for (int i = Math.max(n, 0); i < byteLength; i++) {
      b.put(i, (byte) 0); // an image shrunk after the handshake reads as zeroes there
    }
    return b.position(0);
  }

  private void read(Request request) throws IOException {
    if (structured) {
      readStructured(request);
    } else {
      readSimple(request);
    }
  }

  /** A simple reply: the header only once the first piece is read; a later failure hangs up. */
  private void readSimple(Request request) throws IOException {
    long at = request.offset();
    long end = request.end();
    boolean headerSent = false;
    while (at < end) {
      int n = (int) Math.min(PIECE_BYTES, end - at);
      ByteBuffer data;
      try {
        data = readPiece(at, n);
      } catch (IOException e) {
        if (!headerSent) {
          out.simpleReply(request.cookie(), errorOf(e), null);
          return;
        }
        throw new NbdProtocolException(
            "read failed part way through a simple reply: " + e.getMessage());
      }
      if (!headerSent) {
        out.simpleReply(request.cookie(), 0, data);
        headerSent = true;
      } else {
        while (data.hasRemaining()) {
          channel.write(data);
        }
      }
      at += n;
    }
  }

  /** Structured: holes the backing file has as hole chunks, the rest as data chunks. */
  private void readStructured(Request request) throws IOException {
    long end = request.end();
    List<Extent> layout;
    try {
      layout = holes.extents(request.offset(), request.length(), MAX_READ_EXTENTS);
    } catch (IOException e) {
      layout = List.of(); // no hole lookup on this file: all of it as data
    }
    long at = request.offset();
    int index = 0;
    while (at < end) {
      Extent extent = index < layout.size() ? layout.get(index++) : new Extent(end - at, 0);
      long extentEnd = at + extent.byteLength();
      if ((extent.flags() & Nbd.STATE_ZERO) != 0) {
        out.holeChunk(request.cookie(), at, (int) extent.byteLength(), extentEnd == end);
        at = extentEnd;
        continue;
      }
      while (at < extentEnd) {
        int n = (int) Math.min(PIECE_BYTES, extentEnd - at);
        ByteBuffer data;
        try {
          data = readPiece(at, n);
        } catch (IOException e) {
          out.errorChunk(request.cookie(), errorOf(e), String.valueOf(e.getMessage()));
          return;
        }
        out.dataChunk(request.cookie(), at, data, at + n == end);
        at += n;
      }
    }
  }

  /** The payload in pieces, each written through the export's tracked path as it arrives. */
  private void write(Request request) throws IOException {
    long at = request.offset();
    long end = request.end();
    IOException failed = null;
    while (at < end) {
      int n = (int) Math.min(PIECE_BYTES, end - at);
      ByteBuffer data = piece().limit(n);
      in.readFully(data);
      if (failed == null) { // after a failure the rest is read and dropped
        try {
          export.write(data.flip(), at);
        } catch (IOException e) {
          failed = e;
        }
      }
      at += n;
    }
    if (failed == null && request.has(Nbd.CMD_FLAG_FUA)) {
      try {
        export.flush();
      } catch (IOException e) {
        failed = e;
      }
    }
    if (failed == null) {
      out.simpleReply(request.cookie(), 0, null);
    } else {
      replyError(request, errorOf(failed), String.valueOf(failed.getMessage()));
    }
  }

  /** One chunk per selected context, in the order of their ids; REQ_ONE: one extent each. */
  private void blockStatus(Request request) throws IOException {
    boolean one = request.has(Nbd.CMD_FLAG_REQ_ONE);
    List<List<Extent>> chunks = new ArrayList<>();
    try {
      for (ExtentSource source : sources) {
        chunks.add(source.extents(request.offset(), request.length(), one ? 1 : Nbd.MAX_EXTENTS));
      }
    } catch (IOException e) {
      replyError(request, errorOf(e), String.valueOf(e.getMessage()));
      return;
    }
    for (int i = 0; i < chunks.size(); i++) {
      out.blockStatusChunk(request.cookie(), i + 1, chunks.get(i), i == chunks.size() - 1);
    }
  }
}
