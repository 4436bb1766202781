package io.cbtfs.fs.kernel;

import io.cbtfs.fs.ImageFileSystem;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.WriteTracking;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A {@link RequestHandler} over a real {@link ImageFileSystem} in a temporary folder, and the FUSE
 * requests the kernel would send it, encoded as the kernel encodes them (little-endian).
 */
final class Requests implements AutoCloseable {
  final TrackerStore store;
  final ImageFileSystem fs;
  final RequestHandler handler;
  final WorkerBuffers buffers = new WorkerBuffers(Posix.get().runtime());
  private long unique = 100;

  Requests(Path dir, KernelOptions options) throws IOException {
    this(dir, options, WriteTracking.TRACKED);
  }

  /** With {@code tracking} on the write path (one that fails, say). */
  Requests(Path dir, KernelOptions options, WriteTracking tracking) throws IOException {
    Path state = dir.resolve(".cbtfs");
    store = TrackerStore.open(state, TrackingOptions.defaults(BlockGeometry.defaults()));
    fs = new ImageFileSystem(new ImageFiles(dir, state), store, Posix.get(), tracking);
    handler = new RequestHandler(fs, Posix.get(), options);
  }

  static KernelOptions options(Path dir, boolean writebackCache) {
    return new KernelOptions(dir, "test", false, !writebackCache, writebackCache, 1);
  }

  @Override
  public void close() throws IOException {
    store.close();
  }

  /** A reply as the handler wrote it: 0 bytes when it wrote none. */
  record Reply(int length, int error, long unique, ByteBuffer payload) {
    int u32(int at) {
      return payload.getInt(at);
    }

    long u64(int at) {
      return payload.getLong(at);
    }
  }

  /** Runs {@code request} through the handler. */
  Reply send(byte[] request) {
    buffers.request.put(0, request, 0, request.length);
    int n = handler.handle(buffers, request.length);
    if (n == 0) {
      return new Reply(0, 0, 0, ByteBuffer.allocate(0));
    }
    byte[] out = new byte[n];
    buffers.reply.get(0, out, 0, n);
    ByteBuffer bb = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer payload = bb.slice(16, n - 16).order(ByteOrder.LITTLE_ENDIAN);
    return new Reply(bb.getInt(0), bb.getInt(4), bb.getLong(8), payload);
  }

  Reply send(int opcode, long node, Args args) {
    return send(request(opcode, ++unique, node, args.bytes()));
  }

  static byte[] request(int opcode, long unique, long node, byte[] args) {
    ByteBuffer bb = ByteBuffer.allocate(40 + args.length).order(ByteOrder.LITTLE_ENDIAN);
    bb.putInt(40 + args.length).putInt(opcode).putLong(unique).putLong(node);
    bb.putInt(0).putInt(0).putInt(1234).putShort((short) 0).putShort((short) 0);
    bb.put(args);
    return bb.array();
  }

  /** The arguments of a request, field by field. */
  static final class Args {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Args u32(long v) {
      ByteBuffer bb = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v);
      out.writeBytes(bb.array());
      return this;
    }

    Args u64(long v) {
      ByteBuffer bb = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
      out.writeBytes(bb.array());
      return this;
    }

    /** A NUL-terminated name. */
    Args name(String name) {
      out.writeBytes(name.getBytes(StandardCharsets.UTF_8));
      out.write(0);
      return this;
    }

    Args raw(byte[] bytes) {
      out.writeBytes(bytes);
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }

  static Args args() {
    return new Args();
  }

  static Args init(int minor, int flags) {
    return args().u32(7).u32(minor).u32(128 << 10).u32(flags).u32(0).raw(new byte[44]);
  }

  static Args create(String name, int flags) {
    return args().u32(flags).u32(0100644).u32(022).u32(0).name(name);
  }

  static Args open(int flags) {
    return args().u32(flags).u32(0);
  }

  static Args read(long fh, long offset, int size) {
    return args().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0);
  }

  static Args write(long fh, long offset, byte[] data) {
    return write(fh, offset, data, 0);
  }

  static Args write(long fh, long offset, byte[] data, int writeFlags) {
    return args()
        .u64(fh)
        .u64(offset)
        .u32(data.length)
        .u32(writeFlags)
        .u64(0)
        .u32(0)
        .u32(0)
        .raw(data);
  }

  static Args release(long fh) {
    return args().u64(fh).u32(0).u32(0).u64(0);
  }

  static Args getattr() {
    return args().u32(0).u32(0).u64(0);
  }
}
