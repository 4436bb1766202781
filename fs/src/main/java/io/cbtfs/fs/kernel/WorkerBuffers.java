package io.cbtfs.fs.kernel;

import io.cbtfs.fs.Posix;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The native memory of one worker thread, made once: the request it reads from /dev/fuse, the reply
 * it writes back, and scratch space for the libc structs an operation fills. The data of a WRITE
 * request and of a READ reply are fixed slices of those, so the data path passes the bytes between
 * the kernel and the backing file without copying or allocating.
 */
final class WorkerBuffers {
  /** The largest READ or WRITE: max_pages (256) x 4 KiB, what INIT negotiates. */
  static final int MAX_DATA = 1 << 20;

  /** A request: its header and a WRITE's arguments before the data, with room to spare. */
  static final int REQUEST_BYTES = MAX_DATA + 4096;

  /** A reply: a header and a READ's data (or a READDIR's entries). */
  static final int REPLY_BYTES = MAX_DATA + 4096;

  private static final int WRITE_DATA_OFFSET = FuseAbi.IN_HEADER_BYTES + FuseAbi.WRITE_IN_BYTES;

  final Pointer request;
  final Pointer writeData;
  final Pointer reply;
  final Pointer readData;
  final Pointer stat;
  final Pointer statvfs;
  final Pointer times;

  WorkerBuffers(Runtime runtime) {
    request = Memory.allocateDirect(runtime, REQUEST_BYTES, true);
    writeData = request.slice(WRITE_DATA_OFFSET);
    reply = Memory.allocateDirect(runtime, REPLY_BYTES, true);
    readData = reply.slice(FuseAbi.OUT_HEADER_BYTES);
    stat = Memory.allocateDirect(runtime, Posix.STAT_BYTES, true);
    statvfs = Memory.allocateDirect(runtime, 256, true);
    times = Memory.allocateDirect(runtime, 32, true);
  }
}
