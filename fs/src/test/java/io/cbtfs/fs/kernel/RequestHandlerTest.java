package io.cbtfs.fs.kernel;

import static io.cbtfs.fs.kernel.Requests.args;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.Posix;
import io.cbtfs.fs.WriteTracking;
import io.cbtfs.fs.kernel.Requests.Reply;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel transport's requests and replies without a kernel: encoded as fuse.h lays them out.
 */
class RequestHandlerTest {
  private static final int O_RDWR = 2;
  private static final int ENOSYS = 38;

  @TempDir Path dir;
  private Requests k;

  @BeforeEach
  void start() throws IOException {
    k = new Requests(dir, Requests.options(dir, false));
  }

  @AfterEach
  void stop() throws IOException {
    k.close();
  }

  @Test
  void initNegotiatesAsyncDirectIoMegabyteRequestsAndNoWritebackCache() {
    Reply r = k.send(FuseAbi.INIT, 0, Requests.init(38, -1)); // the kernel offers everything
    assertThat(r.error()).isZero();
    assertThat(r.length()).isEqualTo(16 + 64);
    int flags = r.u32(12);
    assertThat(flags & FuseAbi.ASYNC_DIO).as("ASYNC_DIO").isNotZero();
    assertThat(flags & FuseAbi.ASYNC_READ).as("ASYNC_READ").isNotZero();
    assertThat(flags & FuseAbi.BIG_WRITES).as("BIG_WRITES").isNotZero();
    assertThat(flags & FuseAbi.MAX_PAGES).as("MAX_PAGES").isNotZero();
    assertThat(flags & FuseAbi.PARALLEL_DIROPS).as("PARALLEL_DIROPS").isNotZero();
    assertThat(flags & FuseAbi.WRITEBACK_CACHE).as("WRITEBACK_CACHE").isZero();
    assertThat(r.u32(20)).as("max_write").isEqualTo(1 << 20);
    assertThat(r.payload().getShort(28)).as("max_pages").isEqualTo((short) 256);
    assertThat(k.handler.initialized().getCount()).isZero();

    Reply none = k.send(FuseAbi.INIT, 0, Requests.init(38, 0)); // nothing offered: nothing taken
    assertThat(none.u32(12)).isZero();
  }

  @Test
  void theWritebackCacheIsNegotiatedOnlyWhenAsked() throws IOException {
    Path other = Files.createDirectory(dir.resolve("wb"));
    try (Requests wb = new Requests(other, Requests.options(other, true))) {
      Reply r = wb.send(FuseAbi.INIT, 0, Requests.init(38, -1));
      assertThat(r.u32(12) & FuseAbi.WRITEBACK_CACHE).isNotZero();
      // and opens ask for no direct I/O, and a write-only open can be read by the kernel's cache
      Reply created = wb.send(FuseAbi.CREATE, 1, Requests.create("wb.img", 1)); // O_WRONLY
      assertThat(created.error()).isZero();
      assertThat(created.u32(128 + 8) & FuseAbi.FOPEN_DIRECT_IO).isZero();
      long fh = created.u64(128);
      assertThat(wb.send(FuseAbi.WRITE, 2, Requests.write(fh, 0, new byte[] {1, 2})).error())
          .isZero();
      assertThat(wb.send(FuseAbi.READ, 2, Requests.read(fh, 0, 2)).error()).isZero();
    }
  }

  @Test
  void aCreatedImageIsWrittenReadAndTracked() throws IOException {
    Reply created = k.send(FuseAbi.CREATE, FuseAbi.ROOT_ID, Requests.create("a.img", O_RDWR));
    assertThat(created.error()).isZero();
    long node = created.u64(0);
    assertThat(node).isGreaterThan(FuseAbi.ROOT_ID);
    int openFlags = created.u32(128 + 8);
    assertThat(openFlags & FuseAbi.FOPEN_PARALLEL_DIRECT_WRITES).isNotZero();
    assertThat(openFlags & FuseAbi.FOPEN_DIRECT_IO).isNotZero();
    long fh = created.u64(128);

    byte[] data = "x".repeat(100).getBytes(StandardCharsets.US_ASCII);
    Reply wrote = k.send(FuseAbi.WRITE, node, Requests.write(fh, 70_000, data));
    assertThat(wrote.error()).isZero();
    assertThat(wrote.u32(0)).isEqualTo(100);
    Reply read = k.send(FuseAbi.READ, node, Requests.read(fh, 69_990, 1000));
    assertThat(read.length()).isEqualTo(16 + 110);
    byte[] got = new byte[110];
    read.payload().get(0, got);
    assertThat(Arrays.copyOfRange(got, 10, 110)).isEqualTo(data);
    assertThat(k.store.loaded("a.img").orElseThrow().dirtyBlocks().blockCount())
        .as("the block written is dirty")
        .isEqualTo(1);

    Reply attr = k.send(FuseAbi.GETATTR, node, Requests.getattr());
    assertThat(attr.error()).isZero();
    assertThat(attr.u64(16)).as("ino").isEqualTo(node);
    assertThat(attr.u64(16 + 8)).as("size").isEqualTo(70_100);
    assertThat(attr.u32(16 + 60)).as("mode").isEqualTo(0100644);

    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name("a.img")).u64(0)).isEqualTo(node);
    assertThat(k.send(FuseAbi.RELEASE, node, Requests.release(fh)).error()).isZero();
    assertThat(Files.size(dir.resolve("a.img"))).isEqualTo(70_100);

    // create and lookup made two lookups: the node goes when both are forgotten
    assertThat(k.send(FuseAbi.FORGET, node, args().u64(1)).length()).isZero();
    assertThat(k.send(FuseAbi.GETATTR, node, Requests.getattr()).error()).isZero();
    k.send(FuseAbi.BATCH_FORGET, 0, args().u32(1).u32(0).u64(node).u64(1));
    assertThat(k.send(FuseAbi.GETATTR, node, Requests.getattr()).error()).isEqualTo(-Posix.ENOENT);
  }

  @Test
  void setattrTruncatesAndChangesModeAndTimes() throws IOException {
    Files.write(dir.resolve("b.img"), new byte[5000]);
    long node = k.send(FuseAbi.LOOKUP, 1, args().name("b.img")).u64(0);
    int valid = FuseAbi.FATTR_SIZE | FuseAbi.FATTR_MODE | FuseAbi.FATTR_MTIME;
    Reply r =
        k.send(
            FuseAbi.SETATTR,
            node,
            args()
                .u32(valid)
                .u32(0)
                .u64(0) // fh
                .u64(100_000) // size
                .u64(0) // lock_owner
                .u64(0) // atime
                .u64(1_600_000_000L) // mtime
                .u64(0) // ctime
                .u32(0)
                .u32(5) // mtimensec
                .u32(0)
                .u32(0100600) // mode
                .u32(0)
                .u32(0)
                .u32(0)
                .u32(0));
    assertThat(r.error()).isZero();
    assertThat(r.u64(16 + 8)).isEqualTo(100_000);
    assertThat(r.u32(16 + 60)).isEqualTo(0100600);
    assertThat(r.u64(16 + 32)).as("mtime").isEqualTo(1_600_000_000L);
    assertThat(Files.size(dir.resolve("b.img"))).isEqualTo(100_000);
  }

  @Test
  void readdirListsTheImagesFromAnyOffset() throws IOException {
    Files.write(dir.resolve("x.img"), new byte[1]);
    Files.write(dir.resolve("y.img"), new byte[1]);
    Files.createDirectory(dir.resolve("sub")); // not served
    long fh = k.send(FuseAbi.OPENDIR, 1, Requests.open(0)).u64(0);
    assertThat(names(k.send(FuseAbi.READDIR, 1, Requests.read(fh, 0, 4096))))
        .containsExactly(".", "..", "x.img", "y.img");
    assertThat(names(k.send(FuseAbi.READDIR, 1, Requests.read(fh, 3, 4096))))
        .containsExactly("y.img");
    // a small buffer takes what fits; the kernel asks again from the last offset it got
    assertThat(names(k.send(FuseAbi.READDIR, 1, Requests.read(fh, 0, 40)))).containsExactly(".");
    assertThat(k.send(FuseAbi.RELEASEDIR, 1, Requests.release(fh)).error()).isZero();
    assertThat(k.send(FuseAbi.READDIR, 1, Requests.read(fh, 0, 4096)).error())
        .isEqualTo(-Posix.EBADF);
  }

  private static List<String> names(Reply r) {
    List<String> names = new ArrayList<>();
    int at = 0;
    while (at < r.length() - 16) {
      int len = r.u32(at + 16);
      byte[] name = new byte[len];
      r.payload().get(at + 24, name);
      names.add(new String(name, StandardCharsets.UTF_8));
      at += (24 + len + 7) & ~7;
    }
    return names;
  }

  @Test
  void renameMovesTheNodeAndUnlinkDetachesIt() throws IOException {
    Files.write(dir.resolve("old.img"), new byte[10]);
    Files.write(dir.resolve("gone.img"), new byte[20]);
    long node = k.send(FuseAbi.LOOKUP, 1, args().name("old.img")).u64(0);
    long replaced = k.send(FuseAbi.LOOKUP, 1, args().name("gone.img")).u64(0);
    assertThat(k.send(FuseAbi.RENAME, 1, args().u64(1).name("old.img").name("gone.img")).error())
        .isZero();
    assertThat(k.send(FuseAbi.GETATTR, node, Requests.getattr()).u64(16 + 8)).isEqualTo(10);
    assertThat(k.send(FuseAbi.GETATTR, replaced, Requests.getattr()).error())
        .isEqualTo(-Posix.ENOENT);
    assertThat(
            k.send(FuseAbi.RENAME2, 1, args().u64(1).u32(1).u32(0).name("gone.img").name("n.img"))
                .error())
        .as("RENAME_NOREPLACE is not offered")
        .isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.UNLINK, 1, args().name("gone.img")).error()).isZero();
    assertThat(k.send(FuseAbi.GETATTR, node, Requests.getattr()).error()).isEqualTo(-Posix.ENOENT);
    assertThat(Files.exists(dir.resolve("gone.img"))).isFalse();
  }

  @Test
  void malformedRequestsAreAnsweredAndNothingThrows() throws IOException {
    long unique = 77;
    byte[] lookup = Requests.request(FuseAbi.LOOKUP, unique, 1, args().name("a.img").bytes());
    assertThat(k.send(Arrays.copyOf(lookup, 12)).length()).as("no unique to answer").isZero();
    Reply shortHeader = k.send(Arrays.copyOf(lookup, 30));
    assertThat(shortHeader.error()).isEqualTo(-Posix.EINVAL);
    assertThat(shortHeader.unique()).isEqualTo(unique);
    byte[] wrongLength = lookup.clone();
    wrongLength[0]++;
    assertThat(k.send(wrongLength).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(9999, 1, args().u64(0)).error()).isEqualTo(-ENOSYS);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().raw("a.img".getBytes())).error())
        .as("no NUL")
        .isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name("a/b")).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name("")).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name("..")).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name("x".repeat(256))).error())
        .as("a name too long: the error the backing file system would give (libfuse 2's)")
        .isEqualTo(-Posix.ENAMETOOLONG);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().raw("x".repeat(256).getBytes())).error())
        .as("as long, and not terminated")
        .isEqualTo(-Posix.EINVAL);
    // not valid UTF-8: it would decode to "bad\uFFFD.img", the name of another file
    byte[] undecodable = {'b', 'a', 'd', (byte) 0xff, '.', 'i', 'm', 'g', 0};
    Files.write(dir.resolve("bad\uFFFD.img"), new byte[1]);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().raw(undecodable)).error()).isEqualTo(-Posix.EILSEQ);
    assertThat(
            k.send(
                    FuseAbi.CREATE,
                    1,
                    args().u32(O_RDWR).u32(0100644).u32(022).u32(0).raw(undecodable))
                .error())
        .isEqualTo(-Posix.EILSEQ);
    assertThat(k.send(FuseAbi.LOOKUP, 1, args().name(".cbtfs")).error())
        .as("the state directory is hidden")
        .isEqualTo(-Posix.ENOENT);
    assertThat(k.send(FuseAbi.READ, 2, args().u64(0).u64(0)).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.READ, 2, Requests.read(0, 0, (1 << 20) + 1)).error())
        .isEqualTo(-Posix.EINVAL);
    byte[] write = Requests.write(0, 0, new byte[10]).bytes();
    write[16] = 11; // size: one byte more than the request holds
    assertThat(k.send(FuseAbi.WRITE, 2, args().raw(write)).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.WRITE, 2, Requests.write(5, 0, new byte[10])).error())
        .as("no such handle")
        .isEqualTo(-Posix.EBADF);
    assertThat(k.send(FuseAbi.INIT, 0, args().u32(7)).error()).isEqualTo(-Posix.EINVAL);
    assertThat(k.send(FuseAbi.INTERRUPT, 0, args().u64(5)).length()).isZero();
  }

  @Test
  void anErrorInTheWritePathIsAnsweredEioAndTheImageIsSyncedVerifiedNext() throws IOException {
    Path other = Files.createDirectory(dir.resolve("oom"));
    WriteTracking bitLost = // an Error after the backing file changed, before the dirty bit
        new WriteTracking() {
          @Override
          public void beforeWrite(TrackedImage image, long byteOffset, long byteLength)
              throws IOException {
            WriteTracking.TRACKED.beforeWrite(image, byteOffset, byteLength);
          }

          @Override
          public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {
            throw new OutOfMemoryError("test");
          }
        };
    try (Requests oom = new Requests(other, Requests.options(other, false), bitLost)) {
      Reply created = oom.send(FuseAbi.CREATE, 1, Requests.create("e.img", O_RDWR));
      long fh = created.u64(FuseAbi.ENTRY_OUT_BYTES);
      TrackedImage image = oom.store.loaded("e.img").orElseThrow();
      assertThat(image.verifyNextSync()).isFalse();

      Reply wrote = oom.send(FuseAbi.WRITE, created.u64(0), Requests.write(fh, 0, new byte[10]));
      assertThat(wrote.error()).as("answered, not left hanging").isEqualTo(-Posix.EIO);
      assertThat(Files.size(other.resolve("e.img"))).as("the file changed").isEqualTo(10);
      assertThat(image.dirtyBlocks().blockCount()).as("the bit is lost").isZero();
      assertThat(image.verifyNextSync()).as("so the dirty set is not trusted").isTrue();
    }
  }

  @Test
  void anErrorInATruncateIsAnsweredEioAndTheImageIsSyncedVerifiedNext() throws IOException {
    Path other = Files.createDirectory(dir.resolve("so"));
    Files.write(other.resolve("t.img"), new byte[5000]);
    WriteTracking overflow =
        new WriteTracking() {
          @Override
          public void beforeWrite(TrackedImage image, long byteOffset, long byteLength) {}

          @Override
          public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {
            throw new StackOverflowError();
          }
        };
    try (Requests so = new Requests(other, Requests.options(other, false), overflow)) {
      long node = so.send(FuseAbi.LOOKUP, 1, args().name("t.img")).u64(0);
      byte[] setattr = new byte[FuseAbi.SETATTR_IN_BYTES];
      Reply r =
          so.send(
              FuseAbi.SETATTR,
              node,
              args()
                  .u32(FuseAbi.FATTR_SIZE)
                  .u32(0)
                  .u64(0)
                  .u64(100)
                  .raw(Arrays.copyOf(setattr, 64)));
      assertThat(r.error()).isEqualTo(-Posix.EIO);
      assertThat(so.store.loaded("t.img").orElseThrow().verifyNextSync()).isTrue();
    }
  }

  @Test
  void aStoppingMountTakesTheKernelsWritebackAndRefusesOtherWrites() throws IOException {
    Path other = Files.createDirectory(dir.resolve("stop"));
    try (Requests wb = new Requests(other, Requests.options(other, true))) {
      Reply created = wb.send(FuseAbi.CREATE, 1, Requests.create("w.img", O_RDWR));
      long node = created.u64(0);
      long fh = created.u64(FuseAbi.ENTRY_OUT_BYTES);
      wb.fs.refuseChanges();

      byte[] page = new byte[4096];
      Reply cached =
          wb.send(FuseAbi.WRITE, node, Requests.write(fh, 8192, page, FuseAbi.WRITE_CACHE));
      assertThat(cached.error()).as("acknowledged to its writer already").isZero();
      assertThat(cached.u32(0)).isEqualTo(4096);
      assertThat(wb.store.loaded("w.img").orElseThrow().dirtyBlocks().blockCount())
          .as("and tracked")
          .isEqualTo(1);
      assertThat(wb.send(FuseAbi.WRITE, node, Requests.write(fh, 0, page)).error())
          .isEqualTo(-Posix.EROFS);
      assertThat(Files.size(other.resolve("w.img"))).isEqualTo(12_288);
    }
  }

  /**
   * With the writeback cache the backing file lacks what is still dirty in the kernel, so its holes
   * are no answer to SEEK_DATA (a sparse-aware copy would skip data just written): LSEEK is left to
   * the kernel (ENOSYS), which then counts every byte as data. Without it, the backing file
   * answers.
   */
  @Test
  void seekDataIsLeftToTheKernelUnderTheWritebackCache() throws IOException {
    Path other = Files.createDirectory(dir.resolve("seek"));
    Files.write(other.resolve("s.img"), new byte[0]);
    try (RandomAccessFile f = new RandomAccessFile(other.resolve("s.img").toFile(), "rw")) {
      f.setLength(1 << 20); // one hole
    }
    for (boolean writeback : new boolean[] {false, true}) {
      try (Requests r = new Requests(other, Requests.options(other, writeback))) {
        long node = r.send(FuseAbi.LOOKUP, 1, Requests.args().name("s.img")).u64(0);
        long fh = r.send(FuseAbi.OPEN, node, Requests.open(O_RDWR)).u64(0);
        Reply seek =
            r.send(FuseAbi.LSEEK, node, Requests.args().u64(fh).u64(0).u32(Posix.SEEK_DATA).u32(0));
        assertThat(seek.error())
            .as("writeback cache " + writeback)
            .isEqualTo(writeback ? -38 : -Posix.ENXIO);
        r.send(FuseAbi.RELEASE, node, Requests.release(fh));
      }
    }
  }

  /**
   * Changes are tracked per name: an image whose backing file has a second name (a hard link) is
   * not changed through the mount, or syncs of the other name would miss the change. Reading it is
   * fine.
   */
  @Test
  void anImageWithASecondNameIsNotChanged() throws IOException {
    Path other = Files.createDirectory(dir.resolve("links"));
    Files.write(other.resolve("a.img"), new byte[8192]);
    Files.createLink(other.resolve("b.img"), other.resolve("a.img"));
    Files.write(other.resolve("c.img"), new byte[8192]);
    try (Requests r = new Requests(other, Requests.options(other, false))) {
      long b = r.send(FuseAbi.LOOKUP, 1, Requests.args().name("b.img")).u64(0);
      assertThat(r.send(FuseAbi.OPEN, b, Requests.open(O_RDWR)).error()).isEqualTo(-Posix.EMLINK);
      assertThat(r.send(FuseAbi.OPEN, b, Requests.open(1)).error()).isEqualTo(-Posix.EMLINK);
      Reply reading = r.send(FuseAbi.OPEN, b, Requests.open(0));
      assertThat(reading.error()).as("read only").isZero();
      r.send(FuseAbi.RELEASE, b, Requests.release(reading.u64(0)));
      Reply cut =
          r.send(
              FuseAbi.SETATTR,
              b,
              Requests.args().u32(FuseAbi.FATTR_SIZE).u32(0).u64(0).u64(100).raw(new byte[64]));
      assertThat(cut.error()).as("a truncate by name").isEqualTo(-Posix.EMLINK);
      assertThat(Files.size(other.resolve("a.img"))).isEqualTo(8192);
      long c = r.send(FuseAbi.LOOKUP, 1, Requests.args().name("c.img")).u64(0);
      Reply writable = r.send(FuseAbi.OPEN, c, Requests.open(O_RDWR));
      assertThat(writable.error()).as("an image with one name").isZero();
      r.send(FuseAbi.RELEASE, c, Requests.release(writable.u64(0)));
    }
  }

  @Test
  void maxPagesIsTheBufferInTheMachinesPagesAndReadsAreCapped() {
    assertThat(RequestHandler.maxPages(4096)).isEqualTo(256);
    assertThat(RequestHandler.maxPages(16_384)).isEqualTo(64);
    assertThat(RequestHandler.maxPages(65_536)).isEqualTo(16);
    assertThat(RequestHandler.maxPages(2L << 20)).as("at least one").isEqualTo(1);
    Reply r = k.send(FuseAbi.INIT, 0, Requests.init(38, -1));
    assertThat(r.payload().getShort(28))
        .isEqualTo((short) RequestHandler.maxPages(Posix.get().pageBytes()));
    assertThat(Requests.options(dir, false).mountData(9, 0, 0)).contains(",max_read=1048576");
  }

  @Test
  void aRefusedReplyGivesBackTheHandleAndTheLookupItCarried() throws IOException {
    Files.write(dir.resolve("o.img"), new byte[1]);
    Reply looked = k.send(FuseAbi.LOOKUP, 1, args().name("o.img"));
    k.handler.replyRefused(k.buffers);
    assertThat(k.handler.nodes().size()).as("the lookup is dropped").isZero();

    long node = k.send(FuseAbi.LOOKUP, 1, args().name("o.img")).u64(0);
    assertThat(k.send(FuseAbi.OPEN, node, Requests.open(O_RDWR)).error()).isZero();
    assertThat(k.fs.openCount()).isEqualTo(1);
    k.handler.replyRefused(k.buffers);
    assertThat(k.fs.openCount()).as("the open is released").isZero();

    Reply created = k.send(FuseAbi.CREATE, 1, Requests.create("c.img", O_RDWR));
    assertThat(created.error()).isZero();
    assertThat(k.handler.nodes().size()).isEqualTo(2);
    k.handler.replyRefused(k.buffers);
    assertThat(k.fs.openCount()).isZero();
    assertThat(k.handler.nodes().size()).as("only o.img's node is left").isEqualTo(1);

    assertThat(k.send(FuseAbi.OPEN, node, Requests.open(0)).u64(0)).isZero(); // handle 0 again
    assertThat(k.send(FuseAbi.OPEN, 12_345, Requests.open(0)).error()).isEqualTo(-Posix.ENOENT);
    k.handler.replyRefused(k.buffers); // a failed reply gave nothing out
    assertThat(k.fs.openCount()).isEqualTo(1);
    assertThat(looked.u64(0)).isNotEqualTo(node); // node ids are never reused
  }
}
