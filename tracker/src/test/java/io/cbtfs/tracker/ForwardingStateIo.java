package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A {@link StateIo} that forwards every call, to the real files ({@link FileStateIo}) unless given
 * another: a test's state I/O that hooks or fails one call overrides that one and inherits the
 * rest.
 */
public class ForwardingStateIo implements StateIo {
  private final StateIo inner;

  public ForwardingStateIo() {
    this(FileStateIo.INSTANCE);
  }

  public ForwardingStateIo(StateIo inner) {
    this.inner = inner;
  }

  @Override
  public byte[] read(Path file) throws IOException {
    return inner.read(file);
  }

  @Override
  public boolean exists(Path file) throws IOException {
    return inner.exists(file);
  }

  @Override
  public void write(Path file, byte[] bytes) throws IOException {
    inner.write(file, bytes);
  }

  @Override
  public void writeAt(Path file, long position, byte[] bytes) throws IOException {
    inner.writeAt(file, position, bytes);
  }

  @Override
  public void fsync(Path file, boolean dataOnly) throws IOException {
    inner.fsync(file, dataOnly);
  }

  @Override
  public void rename(Path from, Path to) throws IOException {
    inner.rename(from, to);
  }

  @Override
  public void delete(Path file) throws IOException {
    inner.delete(file);
  }

  @Override
  public void fsyncDirectory(Path dir) throws IOException {
    inner.fsyncDirectory(dir);
  }
}
