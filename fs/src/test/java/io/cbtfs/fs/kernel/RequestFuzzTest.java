package io.cbtfs.fs.kernel;

import static io.cbtfs.fs.kernel.Requests.args;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.Posix;
import io.cbtfs.fs.kernel.Requests.Reply;
import io.cbtfs.tracker.Fuzz;
import io.cbtfs.tracker.Mutations;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile requests from the kernel side: mutations of valid requests of every opcode served, and
 * random bytes. Each gets a well-formed reply to its own unique (or none, for the opcodes that take
 * none), an errno in range, never EIO (where a RuntimeException in the decoder would land), and the
 * handler goes on serving.
 */
class RequestFuzzTest {
  @TempDir Path dir;

  private static final List<byte[]> VALID =
      List.of(
          req(FuseAbi.INIT, 0, Requests.init(38, -1)),
          req(FuseAbi.LOOKUP, 1, args().name("a.img")),
          req(FuseAbi.GETATTR, 2, Requests.getattr()),
          req(FuseAbi.CREATE, 1, Requests.create("n.img", 2)),
          req(FuseAbi.OPEN, 2, Requests.open(2)),
          req(FuseAbi.READ, 2, Requests.read(0, 0, 4096)),
          req(FuseAbi.WRITE, 2, Requests.write(0, 4096, new byte[64])),
          req(FuseAbi.RELEASE, 2, Requests.release(0)),
          req(FuseAbi.FLUSH, 2, Requests.release(0)),
          req(FuseAbi.FSYNC, 2, args().u64(0).u32(1).u32(0)),
          req(FuseAbi.LSEEK, 2, args().u64(0).u64(0).u32(3).u32(0)),
          req(FuseAbi.OPENDIR, 1, Requests.open(0)),
          req(FuseAbi.READDIR, 1, Requests.read(1, 0, 4096)),
          req(FuseAbi.RELEASEDIR, 1, Requests.release(1)),
          req(FuseAbi.STATFS, 1, args()),
          req(FuseAbi.RENAME, 1, args().u64(1).name("a.img").name("b.img")),
          req(FuseAbi.RENAME2, 1, args().u64(1).u32(0).u32(0).name("b.img").name("a.img")),
          req(FuseAbi.UNLINK, 1, args().name("n.img")),
          req(FuseAbi.FORGET, 2, args().u64(1)),
          req(FuseAbi.BATCH_FORGET, 0, args().u32(2).u32(0).u64(2).u64(1).u64(3).u64(1)),
          req(FuseAbi.INTERRUPT, 0, args().u64(5)),
          req(
              FuseAbi.SETATTR,
              2,
              args()
                  .u32(FuseAbi.FATTR_SIZE | FuseAbi.FATTR_MODE)
                  .u32(0)
                  .u64(0)
                  .u64(8192)
                  .raw(new byte[64])));

  private static byte[] req(int opcode, long node, Requests.Args args) {
    return Requests.request(opcode, 42, node, args.bytes());
  }

  @Test
  void everyRequestGetsAWellFormedAnswerAndTheHandlerGoesOn() throws IOException {
    Files.write(dir.resolve("a.img"), new byte[8192]);
    try (Requests k = new Requests(dir, Requests.options(dir, false))) {
      Fuzz.Report report =
          Fuzz.run(
              "kernel-fuse-requests",
              20_000,
              RequestFuzzTest::input,
              input -> {
                Reply r = k.send(input);
                checkReply(input, r);
                releaseWhatItOpened(k, input, r);
                return r.length() > 0 && r.error() == 0;
              });
      assertThat(report.accepted()).as("some mutations still make valid requests").isPositive();
      assertThat(report.refused()).isPositive();
      // and it still serves
      Reply lookup = k.send(FuseAbi.LOOKUP, 1, args().name("a.img"));
      assertThat(lookup.error()).isIn(0, -Posix.ENOENT);
    }
  }

  private static byte[] input(Random rnd) {
    if (rnd.nextInt(8) == 0) {
      byte[] b = new byte[rnd.nextInt(200)];
      rnd.nextBytes(b);
      return b;
    }
    return Mutations.mutate(VALID.get(rnd.nextInt(VALID.size())), rnd);
  }

  private static void checkReply(byte[] input, Reply r) {
    if (input.length < 16) {
      assertThat(r.length()).as("a request too short to name itself gets no reply").isZero();
      return;
    }
    ByteBuffer in = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN);
    if (r.length() == 0) {
      int opcode = in.getInt(4);
      assertThat(opcode).isIn(FuseAbi.FORGET, FuseAbi.BATCH_FORGET, FuseAbi.INTERRUPT);
      assertThat(in.getInt(0)).isEqualTo(input.length);
      return;
    }
    assertThat(r.unique()).isEqualTo(in.getLong(8));
    assertThat(r.length()).isBetween(16, WorkerBuffers.REPLY_BYTES);
    assertThat(r.error()).isBetween(-4095, 0);
    assertThat(r.error()).as("EIO: an exception escaped the decoder").isNotEqualTo(-Posix.EIO);
  }

  /** A mutated FALLOCATE must never find a handle open: it could allocate gigabytes. */
  private static void releaseWhatItOpened(Requests k, byte[] input, Reply r) {
    if (input.length < 40 || r.length() == 0 || r.error() != 0) {
      return;
    }
    int opcode = ByteBuffer.wrap(input).order(ByteOrder.LITTLE_ENDIAN).getInt(4);
    if (opcode == FuseAbi.OPEN || opcode == FuseAbi.CREATE) {
      long fh = r.u64(opcode == FuseAbi.OPEN ? 0 : FuseAbi.ENTRY_OUT_BYTES);
      assertThat(k.send(FuseAbi.RELEASE, 1, Requests.release(fh)).error()).isZero();
    }
  }
}
