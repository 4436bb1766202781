package io.cbtfs.fs.kernel;

import static io.cbtfs.fs.kernel.FuseAbi.IN_HEADER_BYTES;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.FileSystemOperations;
import io.cbtfs.fs.FuseGuard;
import io.cbtfs.fs.Posix;
import java.io.IOException;
import java.nio.charset.Charset;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import jnr.ffi.Pointer;

/**
 * Decodes one FUSE request, runs it on the mount's {@link FileSystemOperations} and encodes the
 * reply: a pure function of a worker's buffers, so tests drive it without a kernel. Every length is
 * checked against the bytes read before a field is used; a malformed request (short header,
 * arguments cut short, a bad name) is answered EINVAL, an unknown opcode ENOSYS, and nothing a
 * request holds can throw past {@link #handle}. READ and WRITE allocate nothing.
 */
final class RequestHandler {
  private static final int ENOSYS = 38;
  private static final int EPROTO = 71;
  private static final int EISDIR = 21;
  private static final byte[] DOT = {'.'};
  private static final byte[] DOT_DOT = {'.', '.'};
  private static final int NAME_MAX = 255;
  private static final int DT_DIR = 4;
  private static final int DT_REG = 8;
  private static final long UTIME_NOW = (1L << 30) - 1;
  private static final long UTIME_OMIT = (1L << 30) - 2;

  /** Entry and attribute cache timeouts, in seconds (libfuse's defaults). */
  private static final long TIMEOUT_SECONDS = 1;

  private static final int MAX_BACKGROUND = 64;

  private final FileSystemOperations fs;
  private final Posix posix;
  private final KernelOptions options;
  private final NodeTable nodes = new NodeTable();
  private final Map<Long, List<String>> dirs = new HashMap<>();
  private final CountDownLatch initialized = new CountDownLatch(1);
  private final Charset charset = Charset.defaultCharset();
  private final int maxPages;
  private long nextDir = 1;

  RequestHandler(FileSystemOperations fs, Posix posix, KernelOptions options) {
    this.fs = fs;
    this.posix = posix;
    this.options = options;
    this.maxPages = maxPages(posix.pageBytes());
  }

  /**
   * The max_pages to negotiate: as many of the machine's pages as one request's data buffer holds
   * ({@link WorkerBuffers#MAX_DATA}), so no request is larger than the buffer on 16 or 64 KiB pages
   * either.
   */
  static int maxPages(long pageBytes) {
    return (int) Math.max(1, Math.min(WorkerBuffers.MAX_DATA / pageBytes, 0xffff));
  }

  /** Counts down when INIT has been answered. */
  CountDownLatch initialized() {
    return initialized;
  }

  NodeTable nodes() {
    return nodes;
  }

  /**
   * Handles the request of {@code length} bytes in {@code b.request}; returns the length of the
   * reply written to {@code b.reply}, or 0 when the request takes none (FORGET, INTERRUPT, or one
   * too short to name itself).
   */
  int handle(WorkerBuffers b, int length) {
    Pointer in = b.request;
    if (length < FuseAbi.OUT_HEADER_BYTES) {
      return 0; // no unique to answer to
    }
    long unique = in.getLong(FuseAbi.IN_UNIQUE);
    if (length < IN_HEADER_BYTES || in.getInt(FuseAbi.IN_LEN) != length) {
      return error(b, unique, Posix.EINVAL);
    }
    int opcode = in.getInt(FuseAbi.IN_OPCODE);
    long node = in.getLong(FuseAbi.IN_NODEID);
    int args = length - IN_HEADER_BYTES;
    try {
      return switch (opcode) {
        case FuseAbi.READ -> read(b, unique, args);
        case FuseAbi.WRITE -> write(b, unique, args);
        case FuseAbi.LOOKUP -> lookup(b, unique, node, args);
        case FuseAbi.GETATTR -> getattr(b, unique, node, args);
        case FuseAbi.SETATTR -> setattr(b, unique, node, args);
        case FuseAbi.OPEN -> open(b, unique, node, args);
        case FuseAbi.CREATE -> create(b, unique, node, args);
        case FuseAbi.RELEASE -> release(b, unique, args);
        case FuseAbi.FLUSH -> flush(b, unique, args);
        case FuseAbi.FSYNC -> fsync(b, unique, args);
        case FuseAbi.FALLOCATE -> fallocate(b, unique, args);
        case FuseAbi.STATFS -> statfs(b, unique);
        case FuseAbi.UNLINK -> unlink(b, unique, node, args);
        case FuseAbi.RENAME -> rename(b, unique, node, args, false);
        case FuseAbi.RENAME2 -> rename(b, unique, node, args, true);
        case FuseAbi.LSEEK -> lseek(b, unique, args);
        case FuseAbi.OPENDIR -> opendir(b, unique, node, args);
        case FuseAbi.READDIR -> readdir(b, unique, args);
        case FuseAbi.RELEASEDIR -> releasedir(b, unique, args);
        case FuseAbi.FSYNCDIR -> ok(b, unique, 0);
        case FuseAbi.FORGET -> forget(b, node, args);
        case FuseAbi.BATCH_FORGET -> batchForget(b, args);
        case FuseAbi.INTERRUPT -> 0; // requests are short: the interrupted one simply completes
        case FuseAbi.INIT -> init(b, unique, args);
        case FuseAbi.DESTROY -> ok(b, unique, 0);
        default -> error(b, unique, ENOSYS);
      };
    } catch (Throwable e) { // an Error too: a request left unanswered hangs its caller
      return error(b, unique, -FuseGuard.errno(opName(opcode), "node " + node, e));
    }
  }

  /**
   * The kernel refused the reply in {@code b.reply} to the request in {@code b.request} with
   * ENOENT: its caller was interrupted or killed, and the kernel never learns what the reply gave
   * out. So a LOOKUP's or CREATE's node lookup is dropped and a CREATE's, OPEN's or OPENDIR's
   * handle closed here; the kernel would never FORGET or RELEASE them, and an image left open would
   * hold a stop for its whole wait for open images.
   */
  void replyRefused(WorkerBuffers b) {
    if (b.reply.getInt(FuseAbi.OUT_ERROR) != 0) {
      return;
    }
    int at = FuseAbi.OUT_HEADER_BYTES;
    long first = b.reply.getLong(at); // the node of an entry, the handle of an open
    try {
      switch (b.request.getInt(FuseAbi.IN_OPCODE)) {
        case FuseAbi.LOOKUP -> nodes.forget(first, 1);
        case FuseAbi.CREATE -> {
          nodes.forget(first, 1);
          fs.release(b.reply.getLong(at + FuseAbi.ENTRY_OUT_BYTES));
        }
        case FuseAbi.OPEN -> fs.release(first);
        case FuseAbi.OPENDIR -> {
          synchronized (dirs) {
            dirs.remove(first);
          }
        }
        default -> {}
      }
    } catch (Throwable e) {
      FuseGuard.errno("release of an unanswered open", "handle " + first, e);
    }
  }

  private static String opName(int opcode) {
    return "FUSE opcode " + opcode;
  }

  private static int ok(WorkerBuffers b, long unique, int payloadBytes) {
    int len = FuseAbi.OUT_HEADER_BYTES + payloadBytes;
    b.reply.putInt(FuseAbi.OUT_LEN, len);
    b.reply.putInt(FuseAbi.OUT_ERROR, 0);
    b.reply.putLong(FuseAbi.OUT_UNIQUE, unique);
    return len;
  }

  private static int error(WorkerBuffers b, long unique, int errno) {
    b.reply.putInt(FuseAbi.OUT_LEN, FuseAbi.OUT_HEADER_BYTES);
    b.reply.putInt(FuseAbi.OUT_ERROR, -errno);
    b.reply.putLong(FuseAbi.OUT_UNIQUE, unique);
    return FuseAbi.OUT_HEADER_BYTES;
  }

  private static void need(int args, int bytes) throws ErrnoException {
    if (args < bytes) {
      throw new ErrnoException(Posix.EINVAL, "request arguments cut short");
    }
  }

  /** Argument field at {@code offset} of the request's arguments. */
  private static long arg64(WorkerBuffers b, int offset) {
    return b.request.getLong(IN_HEADER_BYTES + offset);
  }

  private static int arg32(WorkerBuffers b, int offset) {
    return b.request.getInt(IN_HEADER_BYTES + offset);
  }

  // --- the data path: no allocation

  private int read(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.READ_IN_BYTES);
    long fh = arg64(b, 0);
    long offset = arg64(b, 8);
    long size = Integer.toUnsignedLong(arg32(b, 16));
    if (size > WorkerBuffers.MAX_DATA) {
      throw new ErrnoException(Posix.EINVAL, "READ of " + size + " bytes");
    }
    return ok(b, unique, fs.read(fh, b.readData, size, offset));
  }

  private int write(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.WRITE_IN_BYTES);
    long fh = arg64(b, 0);
    long offset = arg64(b, 8);
    long size = Integer.toUnsignedLong(arg32(b, 16));
    if (size > args - FuseAbi.WRITE_IN_BYTES) {
      throw new ErrnoException(Posix.EINVAL, "WRITE of " + size + " bytes beyond the request");
    }
    int written =
        (arg32(b, 20) & FuseAbi.WRITE_CACHE) != 0
            ? fs.writeBack(fh, b.writeData, size, offset)
            : fs.write(fh, b.writeData, size, offset);
    b.reply.putInt(FuseAbi.OUT_HEADER_BYTES, written);
    b.reply.putInt(FuseAbi.OUT_HEADER_BYTES + 4, 0);
    return ok(b, unique, FuseAbi.WRITE_OUT_BYTES);
  }

  // --- names and attributes

  /**
   * The NUL-terminated name at {@code offset} of the arguments, at most up to {@code end}: one path
   * component (1 to 255 bytes, no '/'), decoded as jnr-fuse decodes paths (the JVM's charset).
   */
  private String name(WorkerBuffers b, int offset, int end) throws ErrnoException {
    int from = IN_HEADER_BYTES + offset;
    int to = IN_HEADER_BYTES + end;
    int nul = -1;
    for (int i = from; i < to && i - from <= NAME_MAX; i++) {
      byte c = b.request.getByte(i);
      if (c == 0) {
        nul = i;
        break;
      }
      if (c == '/') {
        throw new ErrnoException(Posix.EINVAL, "a name with '/'");
      }
    }
    if (nul < 0 && to - from > NAME_MAX + 1) { // the kernel sends up to 1024 bytes
      throw new ErrnoException(Posix.ENAMETOOLONG, "a name longer than " + NAME_MAX + " bytes");
    }
    if (nul <= from) {
      throw new ErrnoException(Posix.EINVAL, "a name that is empty or not terminated");
    }
    byte[] bytes = new byte[nul - from];
    b.request.get(from, bytes, 0, bytes.length);
    String name = new String(bytes, charset);
    if (!Arrays.equals(name.getBytes(charset), bytes)) {
      // not valid in the charset: it decoded to U+FFFD, the name of another file
      throw new ErrnoException(Posix.EILSEQ, "a name that is not valid " + charset);
    }
    if (name.equals(".") || name.equals("..")) {
      throw new ErrnoException(Posix.EINVAL, "name " + name);
    }
    return name;
  }

  /** Bytes the name at {@code offset} took, with its NUL (after {@link #name} accepted it). */
  private static int nameBytes(WorkerBuffers b, int offset) {
    int i = IN_HEADER_BYTES + offset;
    while (b.request.getByte(i) != 0) {
      i++;
    }
    return i - IN_HEADER_BYTES - offset + 1;
  }

  private static void requireRoot(long node) throws ErrnoException {
    if (node != FuseAbi.ROOT_ID) {
      throw new ErrnoException(Posix.ENOTDIR, "node " + node + " is not the root");
    }
  }

  /** The FUSE path of a node: "/" for the root, "/NAME" for an image the kernel looked up. */
  private String path(long node) throws ErrnoException {
    if (node == FuseAbi.ROOT_ID) {
      return "/";
    }
    String name = nodes.name(node);
    if (name == null) {
      throw new ErrnoException(Posix.ENOENT, "node " + node + " is unknown or was removed");
    }
    return "/" + name;
  }

  private String imagePath(long node) throws ErrnoException {
    if (node == FuseAbi.ROOT_ID) {
      throw new ErrnoException(EISDIR, "the root is a folder");
    }
    return path(node);
  }

  /** Encodes {@code b.stat} as a fuse_attr at {@code at} of the reply; its ino is the node id. */
  private void attr(WorkerBuffers b, int at, long node) {
    Pointer out = b.reply;
    Pointer st = b.stat;
    out.putLong(at, node);
    out.putLong(at + 8, posix.size(st));
    out.putLong(at + 16, posix.blocks(st));
    out.putLong(at + 24, posix.timeSeconds(st, 0));
    out.putLong(at + 32, posix.timeSeconds(st, 1));
    out.putLong(at + 40, posix.timeSeconds(st, 2));
    out.putInt(at + 48, posix.timeNanos(st, 0));
    out.putInt(at + 52, posix.timeNanos(st, 1));
    out.putInt(at + 56, posix.timeNanos(st, 2));
    out.putInt(at + 60, posix.mode(st));
    out.putInt(at + 64, (int) posix.nlink(st));
    out.putInt(at + 68, posix.uid(st));
    out.putInt(at + 72, posix.gid(st));
    out.putInt(at + 76, (int) posix.rdev(st));
    out.putInt(at + 80, posix.blksize(st));
    out.putInt(at + 84, 0);
  }

  /** A fuse_entry_out of {@code node} from {@code b.stat} at the start of the reply's payload. */
  private void entry(WorkerBuffers b, long node) {
    int at = FuseAbi.OUT_HEADER_BYTES;
    b.reply.putLong(at, node);
    b.reply.putLong(at + 8, 0); // generation: node ids are never reused
    b.reply.putLong(at + 16, TIMEOUT_SECONDS);
    b.reply.putLong(at + 24, TIMEOUT_SECONDS);
    b.reply.putInt(at + 32, 0);
    b.reply.putInt(at + 36, 0);
    attr(b, at + 40, node);
  }

  private int attrReply(WorkerBuffers b, long unique, long node) {
    int at = FuseAbi.OUT_HEADER_BYTES;
    b.reply.putLong(at, TIMEOUT_SECONDS);
    b.reply.putInt(at + 8, 0);
    b.reply.putInt(at + 12, 0);
    attr(b, at + 16, node);
    return ok(b, unique, FuseAbi.ATTR_OUT_BYTES);
  }

  private int lookup(WorkerBuffers b, long unique, long node, int args) throws IOException {
    requireRoot(node);
    String name = name(b, 0, args);
    fs.getattr("/" + name, b.stat); // ENOENT for anything but a served image
    entry(b, nodes.lookup(name));
    return ok(b, unique, FuseAbi.ENTRY_OUT_BYTES);
  }

  private int getattr(WorkerBuffers b, long unique, long node, int args) throws IOException {
    need(args, FuseAbi.GETATTR_IN_BYTES);
    if ((arg32(b, 0) & FuseAbi.GETATTR_FH) != 0) {
      fs.fgetattr(arg64(b, 8), b.stat);
    } else {
      fs.getattr(path(node), b.stat);
    }
    return attrReply(b, unique, node);
  }

  private int setattr(WorkerBuffers b, long unique, long node, int args) throws IOException {
    need(args, FuseAbi.SETATTR_IN_BYTES);
    int valid = arg32(b, 0);
    long fh = arg64(b, 8);
    boolean byHandle = (valid & FuseAbi.FATTR_FH) != 0;
    String path = path(node);
    if ((valid & FuseAbi.FATTR_MODE) != 0) {
      fs.chmod(path, arg32(b, 68) & 07777);
    }
    if ((valid & (FuseAbi.FATTR_UID | FuseAbi.FATTR_GID)) != 0) {
      long uid = (valid & FuseAbi.FATTR_UID) != 0 ? Integer.toUnsignedLong(arg32(b, 76)) : -1;
      long gid = (valid & FuseAbi.FATTR_GID) != 0 ? Integer.toUnsignedLong(arg32(b, 80)) : -1;
      fs.chown(path, uid, gid);
    }
    if ((valid & FuseAbi.FATTR_SIZE) != 0) {
      long size = arg64(b, 16);
      if (byHandle) {
        fs.ftruncate(fh, size);
      } else {
        fs.truncate(imagePath(node), size);
      }
    }
    int times =
        FuseAbi.FATTR_ATIME
            | FuseAbi.FATTR_MTIME
            | FuseAbi.FATTR_ATIME_NOW
            | FuseAbi.FATTR_MTIME_NOW;
    if ((valid & times) != 0) {
      timespec(b, 0, valid, FuseAbi.FATTR_ATIME, FuseAbi.FATTR_ATIME_NOW, 32, 56);
      timespec(b, 16, valid, FuseAbi.FATTR_MTIME, FuseAbi.FATTR_MTIME_NOW, 40, 60);
      fs.utimens(path, b.times);
    }
    if (byHandle) {
      fs.fgetattr(fh, b.stat);
    } else {
      fs.getattr(path, b.stat);
    }
    return attrReply(b, unique, node);
  }

  /** One struct timespec of utimensat's pair, from the setattr arguments. */
  private static void timespec(
      WorkerBuffers b, int at, int valid, int set, int now, int secondsArg, int nanosArg) {
    if ((valid & now) != 0) {
      b.times.putLong(at, 0);
      b.times.putLong(at + 8, UTIME_NOW);
    } else if ((valid & set) != 0) {
      b.times.putLong(at, arg64(b, secondsArg));
      b.times.putLong(at + 8, Integer.toUnsignedLong(arg32(b, nanosArg)) % 1_000_000_000L);
    } else {
      b.times.putLong(at, 0);
      b.times.putLong(at + 8, UTIME_OMIT);
    }
  }

  // --- files

  /** Open flags as the backing file needs them: the writeback cache reads from write-only opens. */
  private int backingFlags(int flags) {
    if (options.writebackCache() && (flags & Posix.O_ACCMODE) == Posix.O_WRONLY) {
      return (flags & ~Posix.O_ACCMODE) | 2; // O_RDWR
    }
    return flags;
  }

  private int openFlags() {
    return (options.directIo() ? FuseAbi.FOPEN_DIRECT_IO : 0)
        | FuseAbi.FOPEN_PARALLEL_DIRECT_WRITES;
  }

  private void openOut(WorkerBuffers b, int at, long fh, int openFlags) {
    b.reply.putLong(at, fh);
    b.reply.putInt(at + 8, openFlags);
    b.reply.putInt(at + 12, 0);
  }

  private int open(WorkerBuffers b, long unique, long node, int args) throws IOException {
    need(args, FuseAbi.OPEN_IN_BYTES);
    long fh = fs.open(imagePath(node), backingFlags(arg32(b, 0)));
    openOut(b, FuseAbi.OUT_HEADER_BYTES, fh, openFlags());
    return ok(b, unique, FuseAbi.OPEN_OUT_BYTES);
  }

  private int create(WorkerBuffers b, long unique, long node, int args) throws IOException {
    need(args, FuseAbi.CREATE_IN_BYTES);
    requireRoot(node);
    int flags = arg32(b, 0);
    int mode = arg32(b, 4);
    String name = name(b, FuseAbi.CREATE_IN_BYTES, args);
    long fh = fs.create("/" + name, mode & 07777, backingFlags(flags));
    try {
      fs.fgetattr(fh, b.stat);
    } catch (Throwable e) {
      fs.release(fh);
      throw e;
    }
    entry(b, nodes.lookup(name));
    openOut(b, FuseAbi.OUT_HEADER_BYTES + FuseAbi.ENTRY_OUT_BYTES, fh, openFlags());
    return ok(b, unique, FuseAbi.ENTRY_OUT_BYTES + FuseAbi.OPEN_OUT_BYTES);
  }

  private int release(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.RELEASE_IN_BYTES);
    fs.release(arg64(b, 0));
    return ok(b, unique, 0);
  }

  private int flush(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.FLUSH_IN_BYTES);
    return ok(b, unique, 0); // every write already reached the backing file
  }

  private int fsync(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.FSYNC_IN_BYTES);
    fs.fsync(arg64(b, 0), (arg32(b, 8) & FuseAbi.FSYNC_FDATASYNC) != 0);
    return ok(b, unique, 0);
  }

  private int fallocate(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.FALLOCATE_IN_BYTES);
    fs.fallocate(arg64(b, 0), arg32(b, 24), arg64(b, 8), arg64(b, 16));
    return ok(b, unique, 0);
  }

  private int lseek(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.LSEEK_IN_BYTES);
    if (options.writebackCache()) {
      // the backing file lacks the pages still dirty in the kernel: its holes would hide data a
      // writer was told is written. ENOSYS makes the kernel answer itself: all data, no hole
      return error(b, unique, ENOSYS);
    }
    long offset = fs.seek(arg64(b, 0), arg64(b, 8), arg32(b, 16));
    b.reply.putLong(FuseAbi.OUT_HEADER_BYTES, offset);
    return ok(b, unique, FuseAbi.LSEEK_OUT_BYTES);
  }

  private int statfs(WorkerBuffers b, long unique) throws IOException {
    fs.statfs(b.statvfs);
    Pointer v =
        b.statvfs; // struct statvfs, LP64: bsize, frsize, blocks, bfree, bavail, files, ffree
    Pointer out = b.reply;
    int at = FuseAbi.OUT_HEADER_BYTES;
    out.putLong(at, v.getLong(16));
    out.putLong(at + 8, v.getLong(24));
    out.putLong(at + 16, v.getLong(32));
    out.putLong(at + 24, v.getLong(40));
    out.putLong(at + 32, v.getLong(48));
    out.putInt(at + 40, (int) v.getLong(0));
    out.putInt(at + 44, (int) v.getLong(80)); // f_namemax
    out.putInt(at + 48, (int) v.getLong(8));
    for (int i = at + 52; i < at + FuseAbi.STATFS_OUT_BYTES; i += 4) {
      out.putInt(i, 0);
    }
    return ok(b, unique, FuseAbi.STATFS_OUT_BYTES);
  }

  private int unlink(WorkerBuffers b, long unique, long node, int args) throws IOException {
    requireRoot(node);
    String name = name(b, 0, args);
    fs.unlink("/" + name);
    nodes.detach(name);
    return ok(b, unique, 0);
  }

  private int rename(WorkerBuffers b, long unique, long node, int args, boolean withFlags)
      throws IOException {
    int head = withFlags ? FuseAbi.RENAME2_IN_BYTES : FuseAbi.RENAME_IN_BYTES;
    need(args, head);
    requireRoot(node);
    requireRoot(arg64(b, 0));
    if (withFlags && arg32(b, 8) != 0) {
      // RENAME_NOREPLACE and RENAME_EXCHANGE: not offered (as under libfuse 2)
      throw new ErrnoException(Posix.EINVAL, "rename flags " + arg32(b, 8));
    }
    String from = name(b, head, args);
    String to = name(b, head + nameBytes(b, head), args);
    fs.rename("/" + from, "/" + to);
    nodes.rename(from, to);
    return ok(b, unique, 0);
  }

  // --- the root folder

  private int opendir(WorkerBuffers b, long unique, long node, int args) throws IOException {
    need(args, FuseAbi.OPEN_IN_BYTES);
    requireRoot(node);
    List<String> names = fs.readdir("/");
    long fh;
    synchronized (dirs) {
      fh = nextDir++;
      dirs.put(fh, names);
    }
    openOut(b, FuseAbi.OUT_HEADER_BYTES, fh, 0);
    return ok(b, unique, FuseAbi.OPEN_OUT_BYTES);
  }

  /** Entries from {@code offset} (0 and 1 are "." and ".."), as many as fit in the size asked. */
  private int readdir(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.READ_IN_BYTES);
    long fh = arg64(b, 0);
    long offset = arg64(b, 8);
    long size =
        Math.min(
            Integer.toUnsignedLong(arg32(b, 16)),
            WorkerBuffers.REPLY_BYTES - FuseAbi.OUT_HEADER_BYTES);
    List<String> names;
    synchronized (dirs) {
      names = dirs.get(fh);
    }
    if (names == null) {
      throw new ErrnoException(Posix.EBADF, "directory handle " + fh + " is not open");
    }
    int used = 0;
    for (long i = Math.max(offset, 0); i < names.size() + 2L; i++) {
      byte[] name = i == 0 ? DOT : i == 1 ? DOT_DOT : names.get((int) i - 2).getBytes(charset);
      int record = (FuseAbi.DIRENT_HEADER_BYTES + name.length + 7) & ~7;
      if (used + record > size) {
        break;
      }
      int at = FuseAbi.OUT_HEADER_BYTES + used;
      long ino = i < 2 ? FuseAbi.ROOT_ID : nodes.idOf(names.get((int) i - 2));
      b.reply.putLong(at, ino == 0 ? 0xffffffffL : ino); // FUSE_UNKNOWN_INO before a lookup
      b.reply.putLong(at + 8, i + 1);
      b.reply.putInt(at + 16, name.length);
      b.reply.putInt(at + 20, i < 2 ? DT_DIR : DT_REG);
      b.reply.put(at + FuseAbi.DIRENT_HEADER_BYTES, name, 0, name.length);
      for (int p = at + FuseAbi.DIRENT_HEADER_BYTES + name.length; p < at + record; p++) {
        b.reply.putByte(p, (byte) 0);
      }
      used += record;
    }
    return ok(b, unique, used);
  }

  private int releasedir(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.RELEASE_IN_BYTES);
    synchronized (dirs) {
      dirs.remove(arg64(b, 0));
    }
    return ok(b, unique, 0);
  }

  // --- the kernel's bookkeeping

  private int forget(WorkerBuffers b, long node, int args) {
    if (args >= FuseAbi.FORGET_IN_BYTES) {
      nodes.forget(node, arg64(b, 0));
    }
    return 0;
  }

  private int batchForget(WorkerBuffers b, int args) {
    if (args < FuseAbi.BATCH_FORGET_IN_BYTES) {
      return 0;
    }
    long count = Integer.toUnsignedLong(arg32(b, 0));
    long fit = (args - FuseAbi.BATCH_FORGET_IN_BYTES) / FuseAbi.FORGET_ONE_BYTES;
    for (int i = 0; i < Math.min(count, fit); i++) {
      int at = FuseAbi.BATCH_FORGET_IN_BYTES + i * FuseAbi.FORGET_ONE_BYTES;
      nodes.forget(arg64(b, at), arg64(b, at + 8));
    }
    return 0;
  }

  /**
   * Negotiates: asynchronous reads and direct I/O (a queue of O_DIRECT requests stays a queue), 1
   * MiB requests, parallel directory operations, and the writeback cache only when asked.
   */
  private int init(WorkerBuffers b, long unique, int args) throws IOException {
    need(args, FuseAbi.INIT_IN_COMPAT_BYTES);
    int major = arg32(b, 0);
    int minor = arg32(b, 4);
    int maxReadahead = arg32(b, 8);
    int offered = arg32(b, 12);
    Pointer out = b.reply;
    int at = FuseAbi.OUT_HEADER_BYTES;
    if (major < FuseAbi.KERNEL_MAJOR) {
      throw new ErrnoException(EPROTO, "FUSE protocol " + major + "." + minor + " is too old");
    }
    for (int i = at; i < at + FuseAbi.INIT_OUT_BYTES; i += 4) {
      out.putInt(i, 0);
    }
    out.putInt(at, FuseAbi.KERNEL_MAJOR);
    out.putInt(at + 4, FuseAbi.KERNEL_MINOR);
    if (major > FuseAbi.KERNEL_MAJOR) {
      return ok(b, unique, FuseAbi.INIT_OUT_COMPAT_BYTES); // the kernel asks again at 7.x
    }
    int wanted =
        FuseAbi.ASYNC_READ
            | FuseAbi.BIG_WRITES
            | FuseAbi.ASYNC_DIO
            | FuseAbi.MAX_PAGES
            | FuseAbi.PARALLEL_DIROPS
            | FuseAbi.INIT_EXT
            | (options.writebackCache() ? FuseAbi.WRITEBACK_CACHE : 0);
    out.putInt(at + 8, maxReadahead);
    out.putInt(at + 12, wanted & offered);
    out.putShort(at + 16, (short) MAX_BACKGROUND);
    out.putShort(at + 18, (short) (MAX_BACKGROUND * 3 / 4));
    out.putInt(at + 20, WorkerBuffers.MAX_DATA);
    out.putInt(at + 24, 1); // time_gran: nanoseconds
    out.putShort(at + 28, (short) maxPages);
    initialized.countDown();
    int size =
        minor < 5
            ? FuseAbi.INIT_OUT_COMPAT_BYTES
            : minor < 23 ? FuseAbi.INIT_OUT_COMPAT_22_BYTES : FuseAbi.INIT_OUT_BYTES;
    return ok(b, unique, size);
  }
}
