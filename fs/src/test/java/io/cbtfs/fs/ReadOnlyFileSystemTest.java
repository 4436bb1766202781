package io.cbtfs.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.List;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;

class ReadOnlyFileSystemTest {
  private static final int SEEK_DATA = 3;
  private static final int SEEK_HOLE = 4;
  private final Posix posix = Posix.get();

  /** 10000 bytes: data in [0, 4096) and [8192, 10000), a hole between; byte i is (i % 251). */
  private static final class Fake implements ServedFile {
    boolean damaged;

    @Override
    public long byteSize() {
      return 10_000;
    }

    @Override
    public long modifiedSeconds() {
      return 1_700_000_000L;
    }

    @Override
    public void read(long byteOffset, byte[] into, int byteLength) throws IOException {
      if (damaged) {
        throw new IOException("chunk s3://b/chunks/ab/abcd is damaged");
      }
      for (int i = 0; i < byteLength; i++) {
        into[i] = (byte) ((byteOffset + i) % 251);
      }
    }

    @Override
    public long next(long byteOffset, boolean hole) {
      if (hole) {
        return byteOffset < 4096 ? 4096 : byteOffset < 8192 ? byteOffset : 10_000;
      }
      return byteOffset < 4096 ? byteOffset : byteOffset < 8192 ? 8192 : byteOffset;
    }
  }

  private final Fake file = new Fake();
  private final ReadOnlyFileSystem fs =
      new ReadOnlyFileSystem(
          new ServedFiles() {
            @Override
            public List<String> names() {
              return List.of("vm1", "vm1@3");
            }

            @Override
            public ServedFile file(String name) {
              return name.equals("vm1@3") || name.equals("vm1") ? file : null;
            }
          },
          posix,
          1234,
          5678);

  private static void errno(int expected, ThrowingCall call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(expected));
  }

  @FunctionalInterface
  interface ThrowingCall {
    void run() throws IOException;
  }

  @Test
  void servesReadOnlyFilesOfTheMountsOwner() throws IOException {
    Pointer stat = posix.allocateStat();
    fs.getattr("/vm1@3", stat);
    assertThat(posix.size(stat)).isEqualTo(10_000);
    assertThat(posix.mode(stat)).isEqualTo(0100444);
    assertThat(posix.uid(stat)).isEqualTo(1234);
    assertThat(posix.gid(stat)).isEqualTo(5678);
    assertThat(posix.timeSeconds(stat, 1)).isEqualTo(1_700_000_000L);
    fs.getattr("/", stat);
    assertThat(posix.mode(stat)).isEqualTo(040555);
    assertThat(fs.readdir("/")).containsExactly("vm1", "vm1@3");
    errno(Posix.ENOENT, () -> fs.getattr("/other", stat));
  }

  @Test
  void readsStopAtTheEndAndADamagedSourceIsEio() throws IOException {
    long fh = fs.open("/vm1@3", 0);
    Pointer buf = Memory.allocateDirect(posix.runtime(), 8192);
    assertThat(fs.read(fh, buf, 8192, 9000)).isEqualTo(1000);
    assertThat(buf.getByte(0)).isEqualTo((byte) (9000 % 251));
    assertThat(fs.read(fh, buf, 8192, 10_000)).isZero();
    file.damaged = true;
    assertThatThrownBy(() -> fs.read(fh, buf, 100, 0))
        .isInstanceOfSatisfying(ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(5))
        .hasMessageContaining("vm1@3")
        .hasMessageContaining("s3://b/chunks/ab/abcd");
    fs.release(fh);
    errno(Posix.EBADF, () -> fs.read(fh, buf, 1, 0));
  }

  @Test
  void seekDataAndHoleFollowTheSource() throws IOException {
    long fh = fs.open("/vm1", 0);
    assertThat(fs.seek(fh, 0, SEEK_HOLE)).isEqualTo(4096);
    assertThat(fs.seek(fh, 4096, SEEK_DATA)).isEqualTo(8192);
    assertThat(fs.seek(fh, 9000, SEEK_HOLE)).isEqualTo(10_000);
    errno(Posix.ENXIO, () -> fs.seek(fh, 10_000, SEEK_DATA));
  }

  @Test
  void everyChangeIsRefusedWithErofs() throws IOException {
    long fh = fs.open("/vm1", 0);
    Pointer buf = Memory.allocateDirect(posix.runtime(), 16);
    errno(Posix.EROFS, () -> fs.open("/vm1", Posix.O_WRONLY));
    errno(Posix.EROFS, () -> fs.open("/vm1", 2));
    errno(Posix.EROFS, () -> fs.open("/vm1", Posix.O_TRUNC));
    errno(Posix.EROFS, () -> fs.create("/new", 0644, Posix.O_WRONLY));
    errno(Posix.EROFS, () -> fs.write(fh, buf, 16, 0));
    errno(Posix.EROFS, () -> fs.writeBack(fh, buf, 16, 0));
    errno(Posix.EROFS, () -> fs.truncate("/vm1", 0));
    errno(Posix.EROFS, () -> fs.ftruncate(fh, 0));
    errno(Posix.EROFS, () -> fs.fallocate(fh, 0, 0, 16));
    errno(Posix.EROFS, () -> fs.rename("/vm1", "/x"));
    errno(Posix.EROFS, () -> fs.unlink("/vm1"));
    errno(Posix.EROFS, () -> fs.chmod("/vm1", 0777));
    errno(Posix.EROFS, () -> fs.chown("/vm1", 0, 0));
    errno(Posix.EROFS, () -> fs.utimens("/vm1", null));
  }

  /** A writable file (a generation under an overlay), in memory. */
  private static final class Writable implements WritableFile {
    final byte[] bytes = new byte[10_000];
    int forced;

    @Override
    public long byteSize() {
      return bytes.length;
    }

    @Override
    public long modifiedSeconds() {
      return 0;
    }

    @Override
    public void read(long byteOffset, byte[] into, int byteLength) {
      System.arraycopy(bytes, (int) byteOffset, into, 0, byteLength);
    }

    @Override
    public long next(long byteOffset, boolean hole) {
      return hole ? bytes.length : byteOffset;
    }

    @Override
    public void write(long byteOffset, byte[] from, int byteLength) {
      System.arraycopy(from, 0, bytes, (int) byteOffset, byteLength);
    }

    @Override
    public void force() {
      forced++;
    }
  }

  @Test
  void aWritableFileTakesWritesAndFsyncButKeepsItsSize() throws IOException {
    Writable w = new Writable();
    ReadOnlyFileSystem overlaid =
        new ReadOnlyFileSystem(
            new ServedFiles() {
              @Override
              public List<String> names() {
                return List.of("vm1", "vm1@3");
              }

              @Override
              public ServedFile file(String name) {
                return name.equals("vm1") ? w : name.equals("vm1@3") ? file : null;
              }
            },
            posix,
            1234,
            5678);
    Pointer stat = posix.allocateStat();
    overlaid.getattr("/vm1", stat);
    assertThat(posix.mode(stat)).isEqualTo(0100644);
    overlaid.getattr("/vm1@3", stat);
    assertThat(posix.mode(stat)).isEqualTo(0100444);
    long fh = overlaid.open("/vm1", 2); // O_RDWR
    Pointer buf = Memory.allocateDirect(posix.runtime(), 300);
    for (int i = 0; i < 300; i++) {
      buf.putByte(i, (byte) (i + 1));
    }
    assertThat(overlaid.write(fh, buf, 300, 9000)).isEqualTo(300);
    assertThat(w.bytes[9000]).isEqualTo((byte) 1);
    assertThat(w.bytes[9299]).isEqualTo((byte) 44);
    Pointer back = Memory.allocateDirect(posix.runtime(), 300);
    assertThat(overlaid.read(fh, back, 300, 9000)).isEqualTo(300);
    assertThat(back.getByte(299)).isEqualTo((byte) 44);
    overlaid.fsync(fh, true);
    assertThat(w.forced).isEqualTo(1);
    overlaid.ftruncate(fh, 10_000); // its own size: harmless
    errno(Posix.EPERM, () -> overlaid.ftruncate(fh, 0));
    errno(Posix.EPERM, () -> overlaid.truncate("/vm1", 20_000));
    errno(Posix.EPERM, () -> overlaid.open("/vm1", 2 | Posix.O_TRUNC));
    errno(Posix.EOPNOTSUPP, () -> overlaid.fallocate(fh, 0, 0, 16));
    errno(Posix.EROFS, () -> overlaid.create("/new", 0644, Posix.O_WRONLY));
    errno(Posix.EROFS, () -> overlaid.unlink("/vm1"));
    errno(Posix.EROFS, () -> overlaid.open("/vm1@3", Posix.O_WRONLY)); // no overlay there
  }
}
