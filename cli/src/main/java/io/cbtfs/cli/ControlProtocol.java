package io.cbtfs.cli;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncReport;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * The control socket's protocol, version 2 (docs/ARCHITECTURE.md, "Control socket"). The client
 * sends the preamble {@code CBTFS/2\n} and one request frame; the mount answers with frames until
 * {@link #OK} or {@link #ERR}. A frame is {@code type (1 byte) | length (4, big-endian) | payload};
 * a text field in a payload is {@code length (2, big-endian) | UTF-8 bytes}. Names and targets are
 * fields, never split on a delimiter: no byte of a name can change the meaning of a request.
 *
 * <p>Every length is checked against its limit before anything is allocated for it; anything that
 * breaks the format is a {@link ControlProtocolException} and is answered, not acted on.
 *
 * <p>The one codec of the socket: requests are {@link ControlRequest} records, and each type of
 * reply travels by its {@link ReplyCodec}; no other class reads or writes the protocol's bytes.
 */
final class ControlProtocol {
  static final String SOCKET_NAME = "control.sock";

  /**
   * Starts every connection. A line, so that a mount of an older cbtfs (a line protocol) answers
   * "ERR unknown request" at once, and an older client reading lines gets a line back.
   */
  static final byte[] PREAMBLE = "CBTFS/2\n".getBytes(StandardCharsets.US_ASCII);

  // requests
  static final int PING = 1;
  static final int STATUS = 2;
  static final int SYNC = 3;
  static final int UNMOUNT = 4;
  static final int FORGET = 5;
  static final int CELLS = 6;
  static final int GROUP_SYNC = 7;
  static final int BACKUP_BEGIN = 8;
  static final int BACKUP_END = 9;

  /** Bit 0 of a BACKUP_BEGIN's flags: a fleece limit follows, as a SYNC's. */
  static final int FLAG_BACKUP_FLEECE_LIMIT = 1;

  /** Bit 0 of a BACKUP_END's flags: abort (the cursor stays). */
  static final int FLAG_ABORT = 1;

  // replies: outside the printable range, so an older mount's text reply is told apart
  static final int OK = 0x10;
  static final int ERR = 0x11;
  static final int FIELD = 0x12;
  static final int PROGRESS = 0x13;
  static final int ALIVE = 0x14;

  /** A SYNC took its dirty set (no payload): the client's --post-hook may run. */
  static final int DRAINED = 0x15;

  /** A GROUP_SYNC moves on to its member (4 bytes, big-endian, 0 first): progress that follows. */
  static final int MEMBER = 0x16;

  /** The most images a consistency group holds (the disks of one VM). */
  static final int MAX_GROUP_MEMBERS = 16;

  /** An image name is one path component: NAME_MAX bytes. */
  static final int MAX_NAME_BYTES = 255;

  /** A target URI: a PATH_MAX (4096) path, another for a token file, and options, with room. */
  static final int MAX_TARGET_BYTES = 16 << 10;

  /**
   * The longest request: a GROUP_SYNC's count (2 bytes), names and targets, and its flags and
   * fleece limit (1 + 1 + 8); every other request is shorter.
   */
  static final int MAX_REQUEST_PAYLOAD =
      2 + MAX_GROUP_MEMBERS * (2 + MAX_NAME_BYTES + 2 + MAX_TARGET_BYTES) + 10;

  /** Replies carry fields and messages that may quote a target: a few of them fit. */
  static final int MAX_REPLY_PAYLOAD = 128 << 10;

  /** Bit 0 of a SYNC request's flags byte; the unnamed ones must be zero. */
  static final int FLAG_FULL = 1;

  /** Bit 1 of a SYNC's flags: read each block as it is when read ({@code --no-snapshot}). */
  static final int FLAG_NO_SNAPSHOT = 2;

  /**
   * Bit 2 of a SYNC's flags: a fleece limit follows, 1 byte (0 = bytes, 1 = percent) and 8
   * (big-endian); without it the default.
   */
  static final int FLAG_FLEECE_LIMIT = 4;

  private ControlProtocol() {}

  static Path socketPath(Path stateDir) {
    return stateDir.resolve(SOCKET_NAME);
  }

  /**
   * A client that does not speak this protocol: an older cbtfs, which reads lines, so the mount
   * answers with {@link #lineReply}.
   */
  static final class ForeignClient extends ControlProtocolException {
    private static final long serialVersionUID = 1L;

    ForeignClient() {
      super("not a cbtfs control request (protocol 2): use the cbtfs of this mount's version");
    }

    byte[] lineReply() {
      return ("ERR " + getMessage() + "\n").getBytes(StandardCharsets.US_ASCII);
    }
  }

  /** A frame as read: its type and payload. */
  record Frame(int type, byte[] payload) {}

  /**
   * Reads the preamble and one request, as the mount does.
   *
   * @throws ControlProtocolException for anything but a well-formed request within the limits,
   *     including a connection that ends part way
   * @throws IOException if reading fails (a deadline passed)
   */
  static ControlRequest<?> readRequest(InputStream in) throws IOException {
    DataInputStream data = new DataInputStream(in);
    byte[] preamble = new byte[PREAMBLE.length];
    try {
      data.readFully(preamble);
    } catch (EOFException e) {
      throw new ControlProtocolException("no request: the connection ended");
    }
    if (!Arrays.equals(preamble, PREAMBLE)) {
      throw new ForeignClient();
    }
    Frame f = readFrame(data, MAX_REQUEST_PAYLOAD, "request");
    return parseRequest(f.type(), f.payload());
  }

  /** The request in a frame's payload; the payload must be exactly its fields. */
  static ControlRequest<?> parseRequest(int type, byte[] payload) {
    ByteBuffer in = ByteBuffer.wrap(payload);
    ControlRequest<?> r =
        switch (type) {
          case PING -> new ControlRequest.Ping();
          case UNMOUNT -> new ControlRequest.Unmount();
          case STATUS -> new ControlRequest.Status(name(in));
          case FORGET -> new ControlRequest.Forget(name(in), target(in));
          case CELLS -> {
            String name = name(in);
            String target = field(in, "target", MAX_TARGET_BYTES); // empty: furthest behind
            if (target.indexOf('\0') >= 0) {
              throw new ControlProtocolException("bad request: the target holds NUL");
            }
            if (in.remaining() < 4) {
              throw new ControlProtocolException("bad request: CELLS without its cell count");
            }
            int maxCells = in.getInt();
            if (maxCells < 1 || maxCells > DirtyCells.MAX_CELLS) {
              throw new ControlProtocolException(
                  "bad request: " + Integer.toUnsignedString(maxCells) + " cells");
            }
            yield new ControlRequest.Cells(name, target, maxCells);
          }
          case SYNC -> {
            String name = name(in);
            String target = target(in);
            int flags = syncFlags(in);
            yield new ControlRequest.Sync(
                name, new TargetAddress(target), (flags & FLAG_FULL) != 0, snapshot(in, flags));
          }
          case GROUP_SYNC -> {
            if (in.remaining() < 2) {
              throw new ControlProtocolException("bad request: GROUP_SYNC without its count");
            }
            int count = in.getShort() & 0xffff;
            if (count < 2 || count > MAX_GROUP_MEMBERS) {
              throw new ControlProtocolException("bad request: a group of " + count + " images");
            }
            List<ControlRequest.GroupMember> members = new ArrayList<>();
            for (int i = 0; i < count; i++) {
              members.add(new ControlRequest.GroupMember(name(in), new TargetAddress(target(in))));
            }
            int flags = syncFlags(in);
            yield new ControlRequest.GroupSync(
                members, (flags & FLAG_FULL) != 0, snapshot(in, flags));
          }
          case BACKUP_BEGIN -> {
            String name = name(in);
            String backup = backupName(in);
            int flags = flags(in, FLAG_BACKUP_FLEECE_LIMIT, "BACKUP_BEGIN");
            yield new ControlRequest.BackupBegin(
                name,
                backup,
                (flags & FLAG_BACKUP_FLEECE_LIMIT) != 0 ? fleeceLimit(in) : FleeceLimit.DEFAULT);
          }
          case BACKUP_END -> {
            String name = name(in);
            String backup = backupName(in);
            int flags = flags(in, FLAG_ABORT, "BACKUP_END");
            yield new ControlRequest.BackupEnd(name, backup, (flags & FLAG_ABORT) != 0);
          }
          default -> throw new ControlProtocolException("bad request: unknown type " + type);
        };
    if (in.hasRemaining()) {
      throw new ControlProtocolException(
          "bad request: " + in.remaining() + " bytes after the request's fields");
    }
    return r;
  }

  /** A SYNC's or GROUP_SYNC's flags byte. */
  private static int syncFlags(ByteBuffer in) {
    return flags(in, FLAG_FULL | FLAG_NO_SNAPSHOT | FLAG_FLEECE_LIMIT, "SYNC");
  }

  /** The snapshot option of a SYNC's {@code flags}, and the fleece limit that may follow them. */
  private static SnapshotOption snapshot(ByteBuffer in, int flags) {
    FleeceLimit limit = FleeceLimit.DEFAULT;
    if ((flags & FLAG_FLEECE_LIMIT) != 0) {
      limit = fleeceLimit(in);
    }
    return new SnapshotOption((flags & FLAG_NO_SNAPSHOT) == 0, limit);
  }

  /** A request's frame, preamble first: what a client writes. */
  static byte[] encode(ControlRequest<?> r) {
    ByteArrayOutputStream payload = new ByteArrayOutputStream();
    int type;
    if (r instanceof ControlRequest.Status s) {
      type = STATUS;
      field(payload, "image name", s.imageName(), MAX_NAME_BYTES);
    } else if (r instanceof ControlRequest.Sync s) {
      type = SYNC;
      field(payload, "image name", s.imageName(), MAX_NAME_BYTES);
      field(payload, "target", s.target().uri(), MAX_TARGET_BYTES);
      syncFlags(payload, s.full(), s.snapshot());
    } else if (r instanceof ControlRequest.GroupSync g) {
      type = GROUP_SYNC;
      if (g.members().size() < 2 || g.members().size() > MAX_GROUP_MEMBERS) {
        throw new IllegalArgumentException(
            "a consistency group holds 2 to " + MAX_GROUP_MEMBERS + " images");
      }
      payload.write(0);
      payload.write(g.members().size());
      for (ControlRequest.GroupMember m : g.members()) {
        field(payload, "image name", m.imageName(), MAX_NAME_BYTES);
        field(payload, "target", m.target().uri(), MAX_TARGET_BYTES);
      }
      syncFlags(payload, g.full(), g.snapshot());
    } else if (r instanceof ControlRequest.Forget f) {
      type = FORGET;
      field(payload, "image name", f.imageName(), MAX_NAME_BYTES);
      field(payload, "target", f.target(), MAX_TARGET_BYTES);
    } else if (r instanceof ControlRequest.Cells c) {
      type = CELLS;
      field(payload, "image name", c.imageName(), MAX_NAME_BYTES);
      field(payload, "target", c.target(), MAX_TARGET_BYTES);
      payload.writeBytes(ByteBuffer.allocate(4).putInt(c.maxCells()).array());
    } else if (r instanceof ControlRequest.BackupBegin b) {
      type = BACKUP_BEGIN;
      field(payload, "image name", b.imageName(), MAX_NAME_BYTES);
      field(payload, "backup name", b.backup(), MAX_NAME_BYTES);
      boolean ownLimit = !b.limit().equals(FleeceLimit.DEFAULT);
      payload.write(ownLimit ? FLAG_BACKUP_FLEECE_LIMIT : 0);
      if (ownLimit) {
        writeFleeceLimit(payload, b.limit());
      }
    } else if (r instanceof ControlRequest.BackupEnd b) {
      type = BACKUP_END;
      field(payload, "image name", b.imageName(), MAX_NAME_BYTES);
      field(payload, "backup name", b.backup(), MAX_NAME_BYTES);
      payload.write(b.abort() ? FLAG_ABORT : 0);
    } else if (r instanceof ControlRequest.Ping) {
      type = PING;
    } else if (r instanceof ControlRequest.Unmount) {
      type = UNMOUNT;
    } else {
      throw new IllegalArgumentException("not a control request: " + r);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(PREAMBLE);
    out.writeBytes(frame(type, payload.toByteArray()));
    return out.toByteArray();
  }

  /** A sync's flags byte, and its fleece limit when it is not the default. */
  private static void syncFlags(ByteArrayOutputStream payload, boolean full, SnapshotOption snap) {
    FleeceLimit limit = snap.fleeceLimit();
    boolean ownLimit = !limit.equals(FleeceLimit.DEFAULT);
    payload.write(
        (full ? FLAG_FULL : 0)
            | (snap.on() ? 0 : FLAG_NO_SNAPSHOT)
            | (ownLimit ? FLAG_FLEECE_LIMIT : 0));
    if (ownLimit) {
      writeFleeceLimit(payload, limit);
    }
  }

  /**
   * How one type of reply travels: as {@link #FIELD} frames (key, value), in order, then {@link
   * #OK}. Decoding refuses a reply that lacks a field or holds one that does not parse.
   */
  record ReplyCodec<R>(Function<R, Map<String, String>> fields, Function<ReplyFields, R> decoder) {
    /** The frames of {@code reply}: its fields, then OK. */
    byte[] answer(R reply) {
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      for (Map.Entry<String, String> f : fields.apply(reply).entrySet()) {
        all.writeBytes(field(f.getKey(), f.getValue()));
      }
      all.writeBytes(ok());
      return all.toByteArray();
    }

    R decode(Map<String, String> received) {
      return decoder.apply(new ReplyFields(received));
    }
  }

  /** A reply's fields as received, read by name and type. */
  record ReplyFields(Map<String, String> map) {
    String text(String key) {
      String v = map.get(key);
      if (v == null) {
        throw new ControlProtocolException("protocol error: the reply has no field '" + key + "'");
      }
      return v;
    }

    long number(String key) {
      try {
        return Long.parseLong(text(key));
      } catch (NumberFormatException e) {
        throw notA("number", key);
      }
    }

    double decimal(String key) {
      try {
        return Double.parseDouble(text(key));
      } catch (NumberFormatException e) {
        throw notA("number", key);
      }
    }

    Instant instant(String key) {
      try {
        return Instant.parse(text(key));
      } catch (DateTimeParseException e) {
        throw notA("time", key);
      }
    }

    boolean flag(String key) {
      return switch (text(key)) {
        case "true" -> true;
        case "false" -> false;
        default -> throw notA("boolean", key);
      };
    }

    private ControlProtocolException notA(String what, String key) {
      return new ControlProtocolException(
          "protocol error: the reply's field '" + key + "' is not a " + what);
    }
  }

  static final ReplyCodec<ControlRequest.Done> DONE_REPLY =
      new ReplyCodec<>(done -> Map.of(), f -> ControlRequest.Done.DONE);

  static final ReplyCodec<ImageStatus> STATUS_REPLY =
      new ReplyCodec<>(
          s -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("image", s.image());
            m.put("imageSize", Long.toString(s.imageSize()));
            m.put("blockSize", Integer.toString(s.blockSize()));
            m.put("dirtyBlocks", Long.toString(s.dirtyBlocks()));
            m.put("dirtyBytes", Long.toString(s.dirtyBytes()));
            m.put("generation", Long.toString(s.generation()));
            m.put("lineage", s.lineage());
            m.put("tracking", s.tracking());
            m.put("clean", Boolean.toString(s.clean()));
            m.put("recovery", s.recovery());
            m.put("verifyNextSync", Boolean.toString(s.verifyNextSync()));
            m.put("transport", s.transport());
            m.put("targets", Integer.toString(s.targets().size()));
            for (int i = 0; i < s.targets().size(); i++) {
              TargetStatus t = s.targets().get(i);
              String k = "targets." + i + ".";
              m.put(k + "target", t.target());
              m.put(k + "generation", Long.toString(t.generation()));
              m.put(k + "syncedAt", t.syncedAt().toString());
              m.put(k + "lagBlocks", Long.toString(t.lagBlocks()));
              m.put(k + "lagBytes", Long.toString(t.lagBytes()));
              m.put(k + "secondsSinceSync", Long.toString(t.secondsSinceSync()));
              m.put(k + "holdsHistory", Boolean.toString(t.holdsHistory()));
            }
            return m;
          },
          f ->
              new ImageStatus(
                  f.text("image"),
                  f.number("imageSize"),
                  Math.toIntExact(f.number("blockSize")),
                  f.number("dirtyBlocks"),
                  f.number("dirtyBytes"),
                  f.number("generation"),
                  f.text("lineage"),
                  f.text("tracking"),
                  f.flag("clean"),
                  f.text("recovery"),
                  f.flag("verifyNextSync"),
                  targets(f),
                  f.map().getOrDefault("transport", ""))); // an older mount does not say

  /** The targets of a STATUS reply: none from an older mount, which does not say. */
  private static List<TargetStatus> targets(ReplyFields f) {
    long count = f.map().containsKey("targets") ? f.number("targets") : 0;
    if (count < 0 || count > f.map().size()) { // each target takes fields of its own
      throw new ControlProtocolException("protocol error: the reply names " + count + " targets");
    }
    List<TargetStatus> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String k = "targets." + i + ".";
      out.add(
          new TargetStatus(
              f.text(k + "target"),
              f.number(k + "generation"),
              f.instant(k + "syncedAt"),
              f.number(k + "lagBlocks"),
              f.number(k + "lagBytes"),
              f.number(k + "secondsSinceSync"),
              f.flag(k + "holdsHistory")));
    }
    return out;
  }

  /** The counts travel as one field, decimal numbers separated by commas: 4096 fit in it. */
  static final ReplyCodec<DirtyCells> CELLS_REPLY =
      new ReplyCodec<>(
          c -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("target", c.target());
            m.put("imageSize", Long.toString(c.imageSize()));
            m.put("blockSize", Integer.toString(c.blockSize()));
            m.put("blocksPerCell", Long.toString(c.blocksPerCell()));
            m.put("dirtyBytes", Long.toString(c.dirtyBytes()));
            m.put(
                "dirtyBlocks",
                String.join(",", c.dirtyBlocks().stream().map(String::valueOf).toList()));
            return m;
          },
          f -> {
            String counts = f.text("dirtyBlocks");
            List<Long> cells = new ArrayList<>();
            for (String n : counts.isEmpty() ? new String[0] : counts.split(",", -1)) {
              if (cells.size() == DirtyCells.MAX_CELLS || !n.matches("[0-9]{1,18}")) {
                throw new ControlProtocolException(
                    "protocol error: the reply's field 'dirtyBlocks' is not a list of counts");
              }
              cells.add(Long.parseLong(n));
            }
            try {
              return new DirtyCells(
                  f.text("target"),
                  f.number("imageSize"),
                  Math.toIntExact(f.number("blockSize")),
                  f.number("blocksPerCell"),
                  f.number("dirtyBytes"),
                  cells);
            } catch (IllegalArgumentException | ArithmeticException e) {
              throw new ControlProtocolException("protocol error: not a map: " + e.getMessage());
            }
          });

  static final ReplyCodec<SyncReport> SYNC_REPLY =
      new ReplyCodec<>(
          r -> {
            Map<String, String> m = new LinkedHashMap<>();
            syncFields(m, "", r);
            return m;
          },
          f -> syncReport(f, ""));

  /**
   * A group's reply: {@code images} = N, the report of each image that committed under {@code
   * images.i.}, and {@code failure} (empty when all did).
   */
  static final ReplyCodec<GroupReport> GROUP_REPLY =
      new ReplyCodec<>(
          g -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("images", Integer.toString(g.committed().size()));
            for (int i = 0; i < g.committed().size(); i++) {
              syncFields(m, "images." + i + ".", g.committed().get(i));
            }
            m.put("failure", g.failure());
            return m;
          },
          f -> {
            long count = f.number("images");
            if (count < 0 || count > MAX_GROUP_MEMBERS) {
              throw new ControlProtocolException(
                  "protocol error: the reply names " + count + " images");
            }
            List<SyncReport> committed = new ArrayList<>();
            for (int i = 0; i < count; i++) {
              committed.add(syncReport(f, "images." + i + "."));
            }
            return new GroupReport(committed, f.text("failure"));
          });

  private static void syncFields(Map<String, String> m, String prefix, SyncReport r) {
    m.put(prefix + "target", r.target());
    m.put(prefix + "generation", Long.toString(r.generation()));
    m.put(prefix + "full", Boolean.toString(r.full()));
    m.put(prefix + "blocks", Long.toString(r.blocks()));
    m.put(prefix + "dataBytes", Long.toString(r.dataBytes()));
    m.put(prefix + "wireBytes", Long.toString(r.wireBytes()));
    m.put(prefix + "records", Long.toString(r.records()));
    m.put(prefix + "zeroRecords", Long.toString(r.zeroRecords()));
    m.put(prefix + "seconds", String.format(Locale.ROOT, "%.3f", r.seconds()));
    m.put(prefix + "warning", r.warning());
    m.put(prefix + "base", Long.toString(r.base()));
    m.put(prefix + "why", r.why());
  }

  private static SyncReport syncReport(ReplyFields f, String prefix) {
    return new SyncReport(
        f.text(prefix + "target"),
        f.number(prefix + "generation"),
        f.flag(prefix + "full"),
        f.number(prefix + "blocks"),
        f.number(prefix + "dataBytes"),
        f.number(prefix + "wireBytes"),
        f.number(prefix + "records"),
        f.number(prefix + "zeroRecords"),
        f.decimal(prefix + "seconds"),
        f.map().getOrDefault(prefix + "warning", ""),
        f.map().containsKey(prefix + "base") ? f.number(prefix + "base") : -1, // older: unsaid
        f.map().getOrDefault(prefix + "why", ""));
  }

  /** A pull backup's export, its URIs (a count, then each) and what its bitmap holds. */
  static final ReplyCodec<BackupReport> BACKUP_REPLY =
      new ReplyCodec<>(
          b -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("export", b.export());
            m.put("uris", Integer.toString(b.uris().size()));
            for (int i = 0; i < b.uris().size(); i++) {
              m.put("uris." + i, b.uris().get(i));
            }
            m.put("cursor", b.cursor());
            m.put("generation", Long.toString(b.generation()));
            m.put("base", Long.toString(b.base()));
            m.put("imageSize", Long.toString(b.imageSize()));
            m.put("blockSize", Integer.toString(b.blockSize()));
            m.put("dirtyBlocks", Long.toString(b.dirtyBlocks()));
            m.put("dirtyBytes", Long.toString(b.dirtyBytes()));
            m.put("why", b.why());
            m.put("state", b.state());
            return m;
          },
          f -> {
            long count = f.number("uris");
            if (count < 0 || count > f.map().size()) {
              throw new ControlProtocolException(
                  "protocol error: the reply names " + count + " URIs");
            }
            List<String> uris = new ArrayList<>();
            for (int i = 0; i < count; i++) {
              uris.add(f.text("uris." + i));
            }
            return new BackupReport(
                f.text("export"),
                uris,
                f.text("cursor"),
                f.number("generation"),
                f.number("base"),
                f.number("imageSize"),
                Math.toIntExact(f.number("blockSize")),
                f.number("dirtyBlocks"),
                f.number("dirtyBytes"),
                f.text("why"),
                f.text("state"));
          });

  /**
   * Reads one reply frame, as the client does.
   *
   * @throws ControlProtocolException for a frame that breaks the protocol, or the text of a mount
   *     that runs an older cbtfs
   * @throws EOFException if the mount closed the connection before a frame began
   */
  static Frame readReply(InputStream in) throws IOException {
    DataInputStream data = new DataInputStream(in);
    int type = data.read();
    if (type < 0) {
      throw new EOFException("the mount closed the control connection without an answer");
    }
    if (type >= 0x20) {
      throw new ControlProtocolException(
          "the mount answered in the line protocol of an older cbtfs: restart it with this "
              + "version ('cbtfs unmount', then 'cbtfs mount'), or use the cbtfs it runs");
    }
    return readFrame(data, type, MAX_REPLY_PAYLOAD, "reply");
  }

  static byte[] ok() {
    return frame(OK, new byte[0]);
  }

  static byte[] drained() {
    return frame(DRAINED, new byte[0]);
  }

  static byte[] member(int index) {
    return frame(MEMBER, ByteBuffer.allocate(4).putInt(index).array());
  }

  /** A MEMBER frame's index. */
  static int member(Frame f) {
    if (f.payload().length != 4) {
      throw new ControlProtocolException("protocol error: a member frame of the wrong size");
    }
    int index = ByteBuffer.wrap(f.payload()).getInt();
    if (index < 0 || index >= MAX_GROUP_MEMBERS) {
      throw new ControlProtocolException("protocol error: member " + index);
    }
    return index;
  }

  static byte[] alive() {
    return frame(ALIVE, new byte[0]);
  }

  static byte[] err(String message) {
    byte[] text = message.getBytes(StandardCharsets.UTF_8);
    return frame(ERR, text.length > MAX_REPLY_PAYLOAD ? Arrays.copyOf(text, 4096) : text);
  }

  static byte[] field(String key, String value) {
    ByteArrayOutputStream payload = new ByteArrayOutputStream();
    field(payload, "reply key", key, 0xffff);
    field(payload, "reply value", value, 0xffff);
    return frame(FIELD, payload.toByteArray());
  }

  static byte[] progress(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks) {
    return frame(
        PROGRESS,
        ByteBuffer.allocate(32)
            .putLong(doneBytes)
            .putLong(totalBytes)
            .putLong(doneBlocks)
            .putLong(totalBlocks)
            .array());
  }

  /** An ERR frame's message. */
  static String message(Frame f) {
    return new String(f.payload(), StandardCharsets.UTF_8);
  }

  /** A FIELD frame's key and value. */
  static String[] keyValue(Frame f) {
    ByteBuffer in = ByteBuffer.wrap(f.payload());
    String[] kv = {field(in, "reply key", 0xffff), field(in, "reply value", 0xffff)};
    if (in.hasRemaining()) {
      throw new ControlProtocolException("protocol error: bytes after a reply field");
    }
    return kv;
  }

  /** A PROGRESS frame's doneBytes, totalBytes, doneBlocks, totalBlocks. */
  static long[] progress(Frame f) {
    if (f.payload().length != 32) {
      throw new ControlProtocolException("protocol error: a progress frame of the wrong size");
    }
    ByteBuffer in = ByteBuffer.wrap(f.payload());
    return new long[] {in.getLong(), in.getLong(), in.getLong(), in.getLong()};
  }

  private static byte[] frame(int type, byte[] payload) {
    return ByteBuffer.allocate(5 + payload.length)
        .put((byte) type)
        .putInt(payload.length)
        .put(payload)
        .array();
  }

  private static Frame readFrame(DataInputStream in, int maxPayload, String what)
      throws IOException {
    int type = in.read();
    if (type < 0) {
      throw new ControlProtocolException("truncated " + what + ": the connection ended");
    }
    return readFrame(in, type, maxPayload, what);
  }

  private static Frame readFrame(DataInputStream in, int type, int maxPayload, String what)
      throws IOException {
    try {
      int length = in.readInt();
      if (length < 0 || length > maxPayload) {
        throw new ControlProtocolException(
            "bad "
                + what
                + ": "
                + Integer.toUnsignedString(length)
                + " bytes long (limit "
                + maxPayload
                + ")");
      }
      byte[] payload = new byte[length];
      in.readFully(payload);
      return new Frame(type, payload);
    } catch (EOFException e) {
      throw new ControlProtocolException("truncated " + what + ": the connection ended");
    }
  }

  private static void writeFleeceLimit(ByteArrayOutputStream payload, FleeceLimit limit) {
    payload.write(limit.percent() < 0 ? 0 : 1);
    payload.writeBytes(
        ByteBuffer.allocate(8)
            .putLong(limit.percent() < 0 ? limit.byteCount() : limit.percent())
            .array());
  }

  /** A request's flags byte: only the {@code known} bits may be set. */
  private static int flags(ByteBuffer in, int known, String request) {
    if (!in.hasRemaining()) {
      throw new ControlProtocolException("bad request: " + request + " without its flags");
    }
    int flags = in.get() & 0xff;
    if ((flags & ~known) != 0) {
      throw new ControlProtocolException("bad request: unknown " + request + " flags " + flags);
    }
    return flags;
  }

  /** A backup's name: checked where the backup begins; here only a field without NUL. */
  private static String backupName(ByteBuffer in) {
    String name = field(in, "backup name", MAX_NAME_BYTES);
    if (name.isEmpty() || name.indexOf('\0') >= 0) {
      throw new ControlProtocolException("bad request: the backup name is empty or holds NUL");
    }
    return name;
  }

  /** A SYNC's fleece limit: its kind (0 bytes, 1 percent) and value. */
  private static FleeceLimit fleeceLimit(ByteBuffer in) {
    if (in.remaining() < 9) {
      throw new ControlProtocolException("bad request: SYNC without its fleece limit");
    }
    int kind = in.get();
    long value = in.getLong();
    if (kind == 0 && value >= 0) {
      return new FleeceLimit(value, -1);
    }
    if (kind == 1 && value >= 0 && value <= 100) {
      return new FleeceLimit(-1, (int) value);
    }
    throw new ControlProtocolException("bad request: fleece limit " + kind + "/" + value);
  }

  /** A target: its URI (SYNC) or its cursor's name (FORGET). */
  private static String target(ByteBuffer in) {
    String target = field(in, "target", MAX_TARGET_BYTES);
    if (target.isEmpty() || target.indexOf('\0') >= 0) {
      throw new ControlProtocolException("bad request: the target is empty or holds NUL");
    }
    return target;
  }

  /** An image name: one path component, as the mount serves it. */
  private static String name(ByteBuffer in) {
    String name = field(in, "image name", MAX_NAME_BYTES);
    if (name.isEmpty()
        || name.equals(".")
        || name.equals("..")
        || name.indexOf('/') >= 0
        || name.indexOf('\0') >= 0) {
      throw new ControlProtocolException("bad request: not an image name");
    }
    return name;
  }

  private static String field(ByteBuffer in, String what, int maxBytes) {
    if (in.remaining() < 2) {
      throw new ControlProtocolException("bad request: the " + what + " is missing");
    }
    int length = in.getShort() & 0xffff;
    if (length > maxBytes) {
      throw new ControlProtocolException(
          "bad request: the " + what + " is " + length + " bytes long (limit " + maxBytes + ")");
    }
    if (length > in.remaining()) {
      throw new ControlProtocolException("bad request: the " + what + " is cut short");
    }
    ByteBuffer bytes = in.slice().limit(length);
    in.position(in.position() + length);
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(bytes)
          .toString();
    } catch (CharacterCodingException e) {
      throw new ControlProtocolException("bad request: the " + what + " is not valid UTF-8");
    }
  }

  /** Writes a text field; refuses text that UTF-8 cannot hold (a lone surrogate) or too long. */
  private static void field(ByteArrayOutputStream out, String what, String text, int maxBytes) {
    ByteBuffer bytes;
    try {
      bytes =
          StandardCharsets.UTF_8
              .newEncoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .encode(CharBuffer.wrap(text));
    } catch (CharacterCodingException e) {
      throw new ControlProtocolException("the " + what + " cannot be sent: not valid Unicode");
    }
    if (bytes.remaining() > maxBytes) {
      throw new ControlProtocolException(
          "the "
              + what
              + " is "
              + bytes.remaining()
              + " bytes long; the control socket takes at most "
              + maxBytes);
    }
    out.write(bytes.remaining() >> 8);
    out.write(bytes.remaining());
    out.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
  }
}
