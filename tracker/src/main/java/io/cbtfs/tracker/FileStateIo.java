package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** {@link StateIo} on the real file system. */
public final class FileStateIo implements StateIo {
  public static final FileStateIo INSTANCE = new FileStateIo();

  private FileStateIo() {}

  @Override
  public byte[] read(Path file) throws IOException {
    return Files.readAllBytes(file);
  }

  @Override
  public boolean exists(Path file) {
    return Files.exists(file);
  }

  @Override
  public void write(Path file, byte[] bytes) throws IOException {
    try (FileChannel out =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(out, bytes, 0);
    } catch (IOException e) {
      throw named(file, "write", e);
    }
  }

  @Override
  public void writeAt(Path file, long position, byte[] bytes) throws IOException {
    try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE)) {
      writeFully(out, bytes, position);
    } catch (IOException e) {
      throw named(file, "write", e);
    }
  }

  /**
   * {@code e} with the file named: a write's "No space left on device" says nothing of where, and
   * the state disk is often not the one an operator would look at first.
   */
  private static IOException named(Path file, String doing, IOException e) {
    if (e instanceof java.nio.file.FileSystemException) {
      return e; // names its file already
    }
    return new IOException("cannot " + doing + " " + file + ": " + e.getMessage(), e);
  }

  private static void writeFully(FileChannel out, byte[] bytes, long position) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    while (b.hasRemaining()) {
      out.write(b, position + b.position());
    }
  }

  @Override
  public void fsync(Path file, boolean dataOnly) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(!dataOnly);
    } catch (IOException e) {
      throw named(file, "fsync", e);
    }
  }

  @Override
  public void rename(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("state directory does not support atomic rename: " + to, e);
    }
  }

  @Override
  public void delete(Path file) throws IOException {
    Files.deleteIfExists(file);
  }

  @Override
  public void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    }
  }
}
