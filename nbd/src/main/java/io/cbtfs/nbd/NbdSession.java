package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client's connection: the fixed newstyle handshake, then its requests one at a time, each
 * answered before the next is read. A client that breaks the framing, or hangs up, ends only this
 * session; an export's I/O error is answered as an NBD error and the session goes on.
 *
 * <p>Not thread-safe: one thread runs a session; {@link NbdServer} closes its channel to end it.
 */
final class NbdSession {
  private static final Logger log = LoggerFactory.getLogger(NbdSession.class);

  /**
   * Requests are served in pieces of this size: one direct buffer per session, from the mount's
   * direct-memory budget that its syncs share (16 sessions: 4 MiB).
   */
  static final int PIECE_BYTES = 256 << 10;

  /** Options one handshake may send (a client that haggles for ever is cut off). */
  static final int MAX_OPTIONS = 1024;

  /** Allocation lookups one read makes to answer holes as holes ("where cheap"). */
  static final int MAX_READ_EXTENTS = 16;

  private final ByteChannel channel;
  private final ExportCatalog catalog;
  private final boolean writable;
  private final WireInput in;
  private final ReplyWriter out;
  private final Runnable handshakeDone;

  private boolean structured;
  private boolean noZeroes;
  private String contextsFor; // the export the selection was made for, or null
  private List<String> selected = List.of();
  private ExportedImage export;
  private ByteBuffer piece;

  /**
   * @param handshakeDone told once the session enters transmission (the handshake's deadline ends)
   */
  NbdSession(ByteChannel channel, ExportCatalog catalog, boolean writable, Runnable handshakeDone) {
    this.channel = channel;
    this.catalog = catalog;
    this.writable = writable;
    this.in = new WireInput(channel);
    this.out = new ReplyWriter(channel);
    this.handshakeDone = handshakeDone;
  }

  /** Serves the connection until the client leaves or breaks the protocol; closes it. */
  void run() {
    try {
      if (handshake()) {
        handshakeDone.run();
        transmission();
      }
    } catch (NbdProtocolException e) {
      log.info("NBD client dropped: {}", e.getMessage());
    } catch (IOException e) {
      log.debug("NBD connection ended: {}", e.toString());
    } catch (RuntimeException e) {
      log.warn("NBD session failed", e);
    } finally {
      closeQuietly();
    }
  }

  /** Option haggling; true once an export is chosen, false if the client aborted. */
  private boolean handshake() throws IOException {
    out.greeting();
    int clientFlags = in.readInt();
    if ((clientFlags & ~Nbd.CLIENT_FLAGS_KNOWN) != 0) {
      throw new NbdProtocolException(String.format("unknown client flags 0x%x", clientFlags));
    }
    noZeroes = (clientFlags & Nbd.FLAG_NO_ZEROES) != 0;
    for (int i = 0; i < MAX_OPTIONS; i++) {
      ClientOption option = ClientOption.read(in);
      try {
        Boolean done = option(option);
        if (done != null) {
          return done;
        }
      } catch (InvalidOptionException e) {
        out.optionError(option.type(), e.reply(), e.getMessage());
      }
    }
    throw new NbdProtocolException("more than " + MAX_OPTIONS + " options");
  }

  /** Answers one option: true to transmit, false to end, null to go on haggling. */
  private Boolean option(ClientOption option) throws IOException {
    int type = option.type();
    switch (type) {
      case Nbd.OPT_EXPORT_NAME:
        return exportName(ExportQuery.parseName(option.data()));
      case Nbd.OPT_ABORT:
        out.optionReply(type, Nbd.REP_ACK, new byte[0]);
        return false;
      case Nbd.OPT_LIST:
        requireEmpty(option);
        for (String name : catalog.names()) {
          byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
          out.optionReply(
              type,
              Nbd.REP_SERVER,
              ByteBuffer.allocate(4 + bytes.length).putInt(bytes.length).put(bytes).array());
        }
        out.optionReply(type, Nbd.REP_ACK, new byte[0]);
        return null;
      case Nbd.OPT_STRUCTURED_REPLY:
        requireEmpty(option);
        structured = true;
        out.optionReply(type, Nbd.REP_ACK, new byte[0]);
        return null;
      case Nbd.OPT_INFO:
      case Nbd.OPT_GO:
        return go(type, ExportQuery.parse(option.data())) ? Boolean.TRUE : null;
      case Nbd.OPT_LIST_META_CONTEXT:
      case Nbd.OPT_SET_META_CONTEXT:
        metaContext(type, MetaContextQuery.parse(option.data()));
        return null;
      default: // STARTTLS, EXTENDED_HEADERS, anything newer: its payload is already read
        out.optionError(
            type,
            Nbd.REP_ERR_UNSUP,
            "option " + Integer.toUnsignedString(type) + " is not supported");
        return null;
    }
  }

  private static void requireEmpty(ClientOption option) throws InvalidOptionException {
    if (option.data().length != 0) {
      throw OptionPayload.invalid("this option takes no data");
    }
  }

  /** The export a name means: the image of that name, or "" for the only image there is. */
  private Optional<ExportedImage> open(String name) throws IOException {
    String resolved = resolve(name);
    return resolved == null ? Optional.empty() : catalog.open(resolved, writable);
  }

  private String resolve(String name) throws IOException {
    if (!name.isEmpty()) {
      return name;
    }
    List<String> names = catalog.names();
    return names.size() == 1 ? names.get(0) : null;
  }

  private Boolean exportName(String name) throws IOException {
    Optional<ExportedImage> image = open(name);
    if (image.isEmpty()) {
      throw new NbdProtocolException("no export named '" + name + "'"); // the protocol: hang up
    }
    export = image.get();
    long size = export.size();
    selected = List.of(); // EXPORT_NAME cannot select contexts: the protocol ties them to GO
    out.exportNameReply(size, transmissionFlags(), noZeroes);
    startTransmission(size);
    return true;
  }

  private int transmissionFlags() {
    int flags = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_CAN_MULTI_CONN;
    return writable
        ? flags | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_TRIM
        : flags | Nbd.FLAG_READ_ONLY;
  }

  /** NBD_OPT_INFO or NBD_OPT_GO; true if GO succeeded. */
  private boolean go(int type, ExportQuery query) throws IOException {
    Optional<ExportedImage> image = open(query.name());
    if (image.isEmpty()) {
      out.optionError(type, Nbd.REP_ERR_UNKNOWN, "no export named '" + query.name() + "'");
      return false;
    }
    ExportedImage opened = image.get();
    boolean going = false;
    try {
      long size = opened.size();
      out.optionReply(
          type,
          Nbd.REP_INFO,
          ByteBuffer.allocate(12)
              .putShort((short) Nbd.INFO_EXPORT)
              .putLong(size)
              .putShort((short) transmissionFlags())
              .array());
      if (query.infoRequests().contains(Nbd.INFO_NAME)) {
        byte[] name = resolve(query.name()).getBytes(StandardCharsets.UTF_8);
        out.optionReply(
            type,
            Nbd.REP_INFO,
            ByteBuffer.allocate(2 + name.length).putShort((short) Nbd.INFO_NAME).put(name).array());
      }
      if (query.infoRequests().contains(Nbd.INFO_BLOCK_SIZE)) {
        out.optionReply(
            type,
            Nbd.REP_INFO,
            ByteBuffer.allocate(14)
                .putShort((short) Nbd.INFO_BLOCK_SIZE)
                .putInt(1)
                .putInt(4096)
                .putInt(Nbd.MAX_PAYLOAD_BYTES)
                .array());
      }
      out.optionReply(type, Nbd.REP_ACK, new byte[0]);
      if (type == Nbd.OPT_GO) {
        if (!resolve(query.name()).equals(contextsFor)) {
          selected = List.of(); // contexts chosen for another export do not carry over
        }
        export = opened;
        going = true;
        startTransmission(size);
      }
      return going;
    } finally {
      if (!going) {
        opened.close();
      }
    }
  }

  private void metaContext(int type, MetaContextQuery query) throws IOException {
    boolean set = type == Nbd.OPT_SET_META_CONTEXT;
    if (set) {
      selected = List.of(); // a SET replaces the selection, even one that fails
      contextsFor = null;
    }
    if (!structured) {
      throw OptionPayload.invalid("meta contexts need structured replies first");
    }
    Optional<ExportedImage> image = open(query.exportName());
    if (image.isEmpty()) {
      out.optionError(type, Nbd.REP_ERR_UNKNOWN, "no export named '" + query.exportName() + "'");
      return;
    }
    List<String> names;
    try (ExportedImage opened = image.get()) {
      names =
          MetaContexts.matching(MetaContexts.available(opened.tracking()), query.queries(), !set);
    }
    if (set && names.size() > Nbd.MAX_QUERIES) {
      throw new InvalidOptionException(Nbd.REP_ERR_TOO_BIG, "too many contexts");
    }
    for (int i = 0; i < names.size(); i++) {
      byte[] name = names.get(i).getBytes(StandardCharsets.UTF_8);
      int id = set ? i + 1 : 0; // ids in a list are reserved: zero
      out.optionReply(
          type,
          Nbd.REP_META_CONTEXT,
          ByteBuffer.allocate(4 + name.length).putInt(id).put(name).array());
    }
    out.optionReply(type, Nbd.REP_ACK, new byte[0]);
    if (set) {
      selected = names;
      contextsFor = resolve(query.exportName());
    }
  }

  private RequestCheck check;
  private List<ExtentSource> sources;

  private void startTransmission(long size) {
    check = new RequestCheck(size, writable, structured, selected.size());
    sources = new ArrayList<>();
    for (String name : selected) {
      sources.add(MetaContexts.source(name, export));
    }
  }

  private void transmission() throws IOException {
    while (!in.atEnd()) {
      Request request = Request.read(in);
      if (request.type() == Nbd.CMD_DISC && check.errorOf(request) == 0) {
        return;
      }
      int error = check.errorOf(request);
      if (error != 0) {
        refuse(request, error);
        continue;
      }
      switch (request.type()) {
        case Nbd.CMD_READ -> read(request);
        case Nbd.CMD_WRITE -> write(request);
        case Nbd.CMD_FLUSH -> answer(request, () -> export.flush());
        case Nbd.CMD_TRIM ->
            answer(
                request,
                () -> {
                  export.trim(request.offset(), request.length());
                  if (request.has(Nbd.CMD_FLAG_FUA)) {
                    export.flush();
                  }
                });
        case Nbd.CMD_BLOCK_STATUS -> blockStatus(request);
        default -> refuse(request, Nbd.EINVAL); // RequestCheck lets no other type through
      }
    }
  }

  /** Answers a refused request; a write's payload is read and dropped (too long: hang up). */
  private void refuse(Request request, int error) throws IOException {
    if (request.type() == Nbd.CMD_WRITE) {
      if (request.length() > Nbd.MAX_PAYLOAD_BYTES) {
        replyError(request, error, "write of " + request.length() + " bytes: too long");
        throw new NbdProtocolException("write of " + request.length() + " bytes: too long");
      }
      in.skip(request.length());
    }
    replyError(request, error, describe(error, request));
  }

  private static String describe(int error, Request request) {
    return switch (error) {
      case Nbd.EPERM -> "the export is read-only";
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
    int error = 0;
    String message = null;
    try {
      call.run();
    } catch (IOException e) {
      error = errorOf(e);
      message = e.getMessage();
    }
    if (error == 0) {
      out.simpleReply(request.cookie(), 0, null);
    } else {
      replyError(request, error, String.valueOf(message));
    }
  }

  private static int errorOf(IOException e) {
    return e instanceof ExportIoException x ? x.nbdError() : Nbd.EIO;
  }

  private ByteBuffer piece() {
    if (piece == null) {
      piece = ByteBuffer.allocateDirect(PIECE_BYTES).order(ByteOrder.BIG_ENDIAN);
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
      layout =
          new AllocationExtents(export)
              .extents(request.offset(), request.length(), MAX_READ_EXTENTS);
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

  private void closeQuietly() {
    try {
      if (export != null) {
        export.close();
      }
    } catch (IOException | RuntimeException e) {
      log.debug("closing an NBD export: {}", e.toString());
    }
    try {
      channel.close();
    } catch (IOException e) {
      log.debug("closing an NBD connection: {}", e.toString());
    }
  }
}
