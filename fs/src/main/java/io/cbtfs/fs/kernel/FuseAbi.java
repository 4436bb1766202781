package io.cbtfs.fs.kernel;

/**
 * The kernel's FUSE protocol as this transport speaks it: opcodes, flags and the byte layouts of
 * the structs, from include/uapi/linux/fuse.h (protocol 7.38; every struct is the same on x86_64
 * and aarch64, little-endian, padded to 8 bytes). Offsets are named {@code STRUCT_FIELD}.
 */
final class FuseAbi {
  private FuseAbi() {}

  static final int KERNEL_MAJOR = 7;
  static final int KERNEL_MINOR = 38;
  static final long ROOT_ID = 1;

  // opcodes
  static final int LOOKUP = 1;
  static final int FORGET = 2;
  static final int GETATTR = 3;
  static final int SETATTR = 4;
  static final int UNLINK = 10;
  static final int RENAME = 12;
  static final int OPEN = 14;
  static final int READ = 15;
  static final int WRITE = 16;
  static final int STATFS = 17;
  static final int RELEASE = 18;
  static final int FSYNC = 20;
  static final int FLUSH = 25;
  static final int INIT = 26;
  static final int OPENDIR = 27;
  static final int READDIR = 28;
  static final int RELEASEDIR = 29;
  static final int FSYNCDIR = 30;
  static final int CREATE = 35;
  static final int INTERRUPT = 36;
  static final int DESTROY = 38;
  static final int BATCH_FORGET = 42;
  static final int FALLOCATE = 43;
  static final int RENAME2 = 45;
  static final int LSEEK = 46;

  // INIT flags (fuse_init_in/out.flags; flags2 holds bits 32..63 with FUSE_INIT_EXT)
  static final int ASYNC_READ = 1;
  static final int BIG_WRITES = 1 << 5;
  static final int ASYNC_DIO = 1 << 15;
  static final int WRITEBACK_CACHE = 1 << 16;
  static final int PARALLEL_DIROPS = 1 << 18;
  static final int MAX_PAGES = 1 << 22;
  static final int INIT_EXT = 1 << 30;

  // fuse_open_out.open_flags
  static final int FOPEN_DIRECT_IO = 1;
  static final int FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;

  // fuse_setattr_in.valid
  static final int FATTR_MODE = 1;
  static final int FATTR_UID = 1 << 1;
  static final int FATTR_GID = 1 << 2;
  static final int FATTR_SIZE = 1 << 3;
  static final int FATTR_ATIME = 1 << 4;
  static final int FATTR_MTIME = 1 << 5;
  static final int FATTR_FH = 1 << 6;
  static final int FATTR_ATIME_NOW = 1 << 7;
  static final int FATTR_MTIME_NOW = 1 << 8;

  static final int GETATTR_FH = 1;
  static final int FSYNC_FDATASYNC = 1;

  /** write_flags of a WRITE: the kernel writes back pages its writeback cache acknowledged. */
  static final int WRITE_CACHE = 1;

  /** FUSE_DEV_IOC_CLONE: _IOR(229, 0, uint32_t). */
  static final long DEV_IOC_CLONE = 0x8004e500L;

  // struct fuse_in_header (40 bytes)
  static final int IN_HEADER_BYTES = 40;
  static final int IN_LEN = 0;
  static final int IN_OPCODE = 4;
  static final int IN_UNIQUE = 8;
  static final int IN_NODEID = 16;

  // struct fuse_out_header (16 bytes)
  static final int OUT_HEADER_BYTES = 16;
  static final int OUT_LEN = 0;
  static final int OUT_ERROR = 4;
  static final int OUT_UNIQUE = 8;

  // struct fuse_init_in: major, minor, max_readahead, flags, flags2 (flags2 from 7.36)
  static final int INIT_IN_COMPAT_BYTES = 16;
  static final int INIT_IN_BYTES = 64;
  static final int INIT_OUT_BYTES = 64;
  static final int INIT_OUT_COMPAT_BYTES = 8;
  static final int INIT_OUT_COMPAT_22_BYTES = 24;

  // struct fuse_attr (88 bytes)
  static final int ATTR_BYTES = 88;
  // struct fuse_entry_out: nodeid, generation, entry_valid, attr_valid, 2 x nsec, attr
  static final int ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
  // struct fuse_attr_out: attr_valid, attr_valid_nsec, dummy, attr
  static final int ATTR_OUT_BYTES = 16 + ATTR_BYTES;
  static final int OPEN_OUT_BYTES = 16;
  static final int WRITE_OUT_BYTES = 8;
  static final int STATFS_OUT_BYTES = 80;
  static final int LSEEK_OUT_BYTES = 8;

  static final int GETATTR_IN_BYTES = 16;
  static final int SETATTR_IN_BYTES = 88;
  static final int OPEN_IN_BYTES = 8;
  static final int CREATE_IN_BYTES = 16;
  static final int READ_IN_BYTES = 40;
  static final int WRITE_IN_BYTES = 40;
  static final int RELEASE_IN_BYTES = 24;
  static final int FLUSH_IN_BYTES = 24;
  static final int FSYNC_IN_BYTES = 16;
  static final int FALLOCATE_IN_BYTES = 32;
  static final int LSEEK_IN_BYTES = 24;
  static final int FORGET_IN_BYTES = 8;
  static final int BATCH_FORGET_IN_BYTES = 8;
  static final int FORGET_ONE_BYTES = 16;
  static final int RENAME_IN_BYTES = 8;
  static final int RENAME2_IN_BYTES = 16;

  /** fuse_dirent: ino, off, namelen, type, then the name padded to 8 bytes. */
  static final int DIRENT_HEADER_BYTES = 24;

  /** FUSE_MIN_READ_BUFFER: the kernel refuses a read(2) of /dev/fuse into less. */
  static final int MIN_READ_BUFFER = 8192;
}
