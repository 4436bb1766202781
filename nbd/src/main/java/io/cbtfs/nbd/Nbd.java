package io.cbtfs.nbd;

/**
 * The numbers of the NBD protocol this server speaks (doc/proto.md of the NBD project): the fixed
 * newstyle handshake, structured replies and block status, without TLS or extended headers.
 */
final class Nbd {
  private Nbd() {}

  static final long NBDMAGIC = 0x4e42444d41474943L;
  static final long IHAVEOPT = 0x49484156454F5054L;
  static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
  static final int REQUEST_MAGIC = 0x25609513;
  static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;

  // handshake flags (server) and client flags
  static final int FLAG_FIXED_NEWSTYLE = 1;
  static final int FLAG_NO_ZEROES = 2;
  static final int CLIENT_FLAGS_KNOWN = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

  // transmission flags
  static final int FLAG_HAS_FLAGS = 1;
  static final int FLAG_READ_ONLY = 1 << 1;
  static final int FLAG_SEND_FLUSH = 1 << 2;
  static final int FLAG_SEND_FUA = 1 << 3;
  static final int FLAG_SEND_TRIM = 1 << 5;
  static final int FLAG_CAN_MULTI_CONN = 1 << 8;

  // options
  static final int OPT_EXPORT_NAME = 1;
  static final int OPT_ABORT = 2;
  static final int OPT_LIST = 3;
  static final int OPT_STARTTLS = 5;
  static final int OPT_INFO = 6;
  static final int OPT_GO = 7;
  static final int OPT_STRUCTURED_REPLY = 8;
  static final int OPT_LIST_META_CONTEXT = 9;
  static final int OPT_SET_META_CONTEXT = 10;

  // option replies
  static final int REP_ACK = 1;
  static final int REP_SERVER = 2;
  static final int REP_INFO = 3;
  static final int REP_META_CONTEXT = 4;
  static final int REP_ERR_UNSUP = 0x80000001;
  static final int REP_ERR_POLICY = 0x80000002;
  static final int REP_ERR_INVALID = 0x80000003;
  static final int REP_ERR_UNKNOWN = 0x80000006;
  static final int REP_ERR_TOO_BIG = 0x80000009;

  // NBD_REP_INFO types
  static final int INFO_EXPORT = 0;
  static final int INFO_NAME = 1;
  static final int INFO_BLOCK_SIZE = 3;

  // commands
  static final int CMD_READ = 0;
  static final int CMD_WRITE = 1;
  static final int CMD_DISC = 2;
  static final int CMD_FLUSH = 3;
  static final int CMD_TRIM = 4;
  static final int CMD_BLOCK_STATUS = 7;

  // command flags
  static final int CMD_FLAG_FUA = 1;
  static final int CMD_FLAG_REQ_ONE = 1 << 3;

  // structured replies
  static final int REPLY_FLAG_DONE = 1;
  static final int REPLY_TYPE_OFFSET_DATA = 1;
  static final int REPLY_TYPE_OFFSET_HOLE = 2;
  static final int REPLY_TYPE_BLOCK_STATUS = 5;
  static final int REPLY_TYPE_ERROR = 0x8001;

  // errors
  static final int EPERM = 1;
  static final int EIO = 5;
  static final int EINVAL = 22;
  static final int ENOSPC = 28;
  static final int ESHUTDOWN = 108;

  // base:allocation flags
  static final int STATE_HOLE = 1;
  static final int STATE_ZERO = 2;

  /** qemu:dirty-bitmap:* flag: the block is dirty. */
  static final int STATE_DIRTY = 1;

  /** A string of the protocol (a name, a query, a message) is at most this many bytes. */
  static final int MAX_STRING_BYTES = 4096;

  /** The largest option payload read: a name and {@link #MAX_QUERIES} queries fit. */
  static final int MAX_OPTION_BYTES = 64 << 10;

  /** Meta-context queries in one option, and contexts selected at once. */
  static final int MAX_QUERIES = 64;

  /** The largest READ or WRITE payload: the protocol's default, 32 MiB. */
  static final int MAX_PAYLOAD_BYTES = 32 << 20;

  /** Extents in one block-status chunk (the protocol asks for at most 2^20). */
  static final int MAX_EXTENTS = 1 << 16;
}
