package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * The fixed newstyle handshake of one connection: the greeting, then the client's options, each
 * answered, until one chooses an export ({@code NBD_OPT_GO} or {@code NBD_OPT_EXPORT_NAME}) or the
 * client aborts. A malformed option's payload is answered {@code NBD_REP_ERR_INVALID} and haggling
 * goes on; broken framing ends the session ({@link NbdProtocolException}).
 */
final class Handshake {
  /** Options one handshake may send (a client that haggles for ever is cut off). */
  static final int MAX_OPTIONS = 1024;

  private final WireInput in;
  private final ReplyWriter out;
  private final ExportCatalog catalog;
  private final boolean writable;

  private boolean structured;
  private boolean noZeroes;
  private String contextsFor; // the export the selection was made for, or null
  private List<String> selected = List.of();

  Handshake(WireInput in, ReplyWriter out, ExportCatalog catalog, boolean writable) {
    this.in = in;
    this.out = out;
    this.catalog = catalog;
    this.writable = writable;
  }

  /** Haggles; the export chosen, or empty if the client aborted. */
  Optional<Negotiated> run() throws IOException {
    out.greeting();
    int clientFlags = in.readInt();
    if ((clientFlags & ~Nbd.CLIENT_FLAGS_KNOWN) != 0) {
      throw new NbdProtocolException(String.format("unknown client flags 0x%x", clientFlags));
    }
    noZeroes = (clientFlags & Nbd.FLAG_NO_ZEROES) != 0;
    for (int i = 0; i < MAX_OPTIONS; i++) {
      ClientOption option = ClientOption.read(in);
      try {
        Optional<Optional<Negotiated>> done = option(option);
        if (done.isPresent()) {
          return done.get();
        }
      } catch (InvalidOptionException e) {
        out.optionError(option.type(), e.reply(), e.getMessage());
      }
    }
    throw new NbdProtocolException("more than " + MAX_OPTIONS + " options");
  }

  /** Answers one option: empty to go on haggling, else the end of the handshake. */
  private Optional<Optional<Negotiated>> option(ClientOption option) throws IOException {
    int type = option.type();
    switch (type) {
      case Nbd.OPT_EXPORT_NAME:
        return Optional.of(Optional.of(exportName(ExportQuery.parseName(option.data()))));
      case Nbd.OPT_ABORT:
        out.optionReply(type, Nbd.REP_ACK, new byte[0]);
        return Optional.of(Optional.empty());
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
        return Optional.empty();
      case Nbd.OPT_STRUCTURED_REPLY:
        requireEmpty(option);
        structured = true;
        out.optionReply(type, Nbd.REP_ACK, new byte[0]);
        return Optional.empty();
      case Nbd.OPT_INFO:
      case Nbd.OPT_GO:
        return go(type, ExportQuery.parse(option.data())).map(Optional::of);
      case Nbd.OPT_LIST_META_CONTEXT:
      case Nbd.OPT_SET_META_CONTEXT:
        metaContext(type, MetaContextQuery.parse(option.data()));
        return Optional.empty();
      default: // STARTTLS, EXTENDED_HEADERS, anything newer: its payload is already read
        out.optionError(
            type,
            Nbd.REP_ERR_UNSUP,
            "option " + Integer.toUnsignedString(type) + " is not supported");
        return Optional.empty();
    }
  }

  private static void requireEmpty(ClientOption option) throws InvalidOptionException {
    if (option.data().length != 0) {
      throw OptionPayload.invalid("this option takes no data");
    }
  }

  /**
   * The image a name means: the image of that name, or "" for the only image there is; null if
   * none.
   */
  private String resolve(String name) throws IOException {
    if (!name.isEmpty()) {
      return name;
    }
    List<String> names = catalog.names();
    return names.size() == 1 ? names.get(0) : null;
  }

  /**
   * Opens the export {@code name} means; if there is none, or it cannot be opened, answers {@code
   * option} with the error and returns empty.
   */
  private Optional<ExportedImage> open(int option, String name) throws IOException {
    String resolved = resolve(name);
    Optional<ExportedImage> image;
    try {
      image = resolved == null ? Optional.empty() : catalog.open(resolved, writable);
    } catch (IOException e) { // a file it may not open, a stopping mount: this client is told
      int reply =
          e instanceof ExportIoException x && x.nbdError() == Nbd.EPERM
              ? Nbd.REP_ERR_POLICY
              : Nbd.REP_ERR_UNKNOWN;
      out.optionError(option, reply, "cannot open '" + name + "': " + e.getMessage());
      return Optional.empty();
    }
    if (image.isEmpty()) {
      out.optionError(option, Nbd.REP_ERR_UNKNOWN, "no export named '" + name + "'");
    }
    return image;
  }

  private static int transmissionFlags(ExportedImage export) {
    int flags = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_CAN_MULTI_CONN;
    return export.writable()
        ? flags | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_TRIM
        : flags | Nbd.FLAG_READ_ONLY;
  }

  /** NBD_OPT_EXPORT_NAME: no error reply exists, so a name that fails ends the session. */
  private Negotiated exportName(String name) throws IOException {
    String resolved = resolve(name);
    Optional<ExportedImage> image =
        resolved == null ? Optional.empty() : catalog.open(resolved, writable);
    if (image.isEmpty()) {
      throw new NbdProtocolException("no export named '" + name + "'");
    }
    ExportedImage export = image.get();
    try {
      long size = export.size();
      out.exportNameReply(size, transmissionFlags(export), noZeroes);
      return new Negotiated(export, size, structured, List.of()); // contexts need GO
    } catch (IOException | RuntimeException e) {
      export.close();
      throw e;
    }
  }

  /** NBD_OPT_INFO or NBD_OPT_GO; the negotiation if GO succeeded. */
  private Optional<Negotiated> go(int type, ExportQuery query) throws IOException {
    Optional<ExportedImage> image = open(type, query.name());
    if (image.isEmpty()) {
      return Optional.empty();
    }
    ExportedImage export = image.get();
    boolean going = false;
    try {
      long size = export.size();
      out.optionReply(
          type,
          Nbd.REP_INFO,
          ByteBuffer.allocate(12)
              .putShort((short) Nbd.INFO_EXPORT)
              .putLong(size)
              .putShort((short) transmissionFlags(export))
              .array());
      String resolved = resolve(query.name());
      if (query.infoRequests().contains(Nbd.INFO_NAME)) {
        byte[] name = resolved.getBytes(StandardCharsets.UTF_8);
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
      if (type != Nbd.OPT_GO) {
        return Optional.empty();
      }
      // contexts selected for another export do not carry over
      List<String> contexts = resolved.equals(contextsFor) ? selected : List.of();
      going = true;
      return Optional.of(new Negotiated(export, size, structured, contexts));
    } finally {
      if (!going) {
        export.close();
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
    Optional<ExportedImage> image = open(type, query.exportName());
    if (image.isEmpty()) {
      return;
    }
    List<String> names;
    try (ExportedImage opened = image.get()) {
      names = MetaContexts.matching(MetaContexts.available(opened), query.queries(), !set);
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
}
