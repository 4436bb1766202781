package io.cbtfs.fs;

import java.util.Locale;

/**
 * The FUSE operations a mount serves, named by the kernel protocol's opcodes (fuse.h) whichever
 * transport serves them: the libfuse 2 callbacks map onto the same names (chmod, chown, truncate
 * and utimens are SETATTR there too). {@link #OTHER} is any opcode the mount does not serve.
 */
public enum FuseOperation {
  LOOKUP(1),
  FORGET(2),
  GETATTR(3),
  SETATTR(4),
  UNLINK(10),
  RENAME(12),
  OPEN(14),
  READ(15),
  WRITE(16),
  STATFS(17),
  RELEASE(18),
  FSYNC(20),
  FLUSH(25),
  INIT(26),
  OPENDIR(27),
  READDIR(28),
  RELEASEDIR(29),
  FSYNCDIR(30),
  CREATE(35),
  INTERRUPT(36),
  DESTROY(38),
  BATCH_FORGET(42),
  FALLOCATE(43),
  RENAME2(45),
  LSEEK(46),
  OTHER(-1);

  private static final FuseOperation[] BY_OPCODE = new FuseOperation[64];

  static {
    java.util.Arrays.fill(BY_OPCODE, OTHER);
    for (FuseOperation op : values()) {
      if (op.opcode >= 0) {
        BY_OPCODE[op.opcode] = op;
      }
    }
  }

  private final int opcode;
  private final String label;

  FuseOperation(int opcode) {
    this.opcode = opcode;
    this.label = name().toLowerCase(Locale.ROOT);
  }

  /** The kernel's opcode; -1 for {@link #OTHER}. */
  public int opcode() {
    return opcode;
  }

  /** The lower-case name ("write", "batch_forget", "other"): a metric label. */
  public String label() {
    return label;
  }

  /** The operation of a kernel opcode, without allocating: {@link #OTHER} for one not served. */
  public static FuseOperation ofOpcode(int opcode) {
    return opcode >= 0 && opcode < BY_OPCODE.length ? BY_OPCODE[opcode] : OTHER;
  }
}
