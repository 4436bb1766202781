package io.cbtfs.tracker;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The real state I/O ({@link FileStateIo}) as a class to extend: a test's {@link StateIo} that
 * hooks or fails one call overrides that one and inherits the rest.
 */
public class RealStateIo implements StateIo {
  private final StateIo real = FileStateIo.INSTANCE;

  @Override
  public byte[] read(Path file) throws IOException {
    return real.read(file);
  }

  @Override
  public boolean exists(Path file) throws IOException {
    return real.exists(file);
  }

  @Override
  public void write(Path file, byte[] bytes) throws IOException {
    real.write(file, bytes);
  }

  @Override
  public void writeAt(Path file, long position, byte[] bytes) throws IOException {
    real.writeAt(file, position, bytes);
  }

  @Override
  public void fsync(Path file, boolean dataOnly) throws IOException {
    real.fsync(file, dataOnly);
  }

  @Override
  public void rename(Path from, Path to) throws IOException {
    real.rename(from, to);
  }

  @Override
  public void delete(Path file) throws IOException {
    real.delete(file);
  }

  @Override
  public void fsyncDirectory(Path dir) throws IOException {
    real.fsyncDirectory(dir);
  }
}
