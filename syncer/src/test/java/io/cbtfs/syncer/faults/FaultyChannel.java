package io.cbtfs.syncer.faults;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;

/** A real file channel whose reads, writes, fsyncs and truncates go through {@link Faults}. */
final class FaultyChannel extends FileChannel {
  private final FileChannel real;
  private final Path path;
  private final Faults faults;

  FaultyChannel(FileChannel real, Path path, Faults faults) {
    this.real = real;
    this.path = path;
    this.faults = faults;
  }

  /** {@code src} cut to what the armed fault lets through (a short write writes less). */
  private ByteBuffer allowed(ByteBuffer src) throws IOException {
    int n = faults.write(path, src.remaining());
    return n == src.remaining() ? src : src.slice(src.position(), n);
  }

  private int write(ByteBuffer src, long position, boolean positional) throws IOException {
    ByteBuffer part = allowed(src);
    int n = positional ? real.write(part, position) : real.write(part);
    if (part != src) {
      src.position(src.position() + n);
    }
    return n;
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    faults.op("read", path);
    return real.read(dst);
  }

  @Override
  public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
    faults.op("read", path);
    return real.read(dsts, offset, length);
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    return write(src, -1, false);
  }

  @Override
  public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
    long n = 0;
    for (int i = offset; i < offset + length; i++) {
      if (srcs[i].hasRemaining()) {
        int want = srcs[i].remaining();
        int wrote = write(srcs[i]);
        n += wrote;
        if (wrote < want) {
          break;
        }
      }
    }
    return n;
  }

  @Override
  public long position() throws IOException {
    return real.position();
  }

  @Override
  public FileChannel position(long newPosition) throws IOException {
    real.position(newPosition);
    return this;
  }

  @Override
  public long size() throws IOException {
    return real.size();
  }

  @Override
  public FileChannel truncate(long size) throws IOException {
    faults.op("truncate", path);
    real.truncate(size);
    return this;
  }

  @Override
  public void force(boolean metaData) throws IOException {
    faults.op("fsync", path);
    real.force(metaData);
  }

  @Override
  public long transferTo(long position, long count, WritableByteChannel target) throws IOException {
    faults.op("read", path);
    return real.transferTo(position, count, target);
  }

  @Override
  public long transferFrom(ReadableByteChannel src, long position, long count) throws IOException {
    faults.op("write", path);
    return real.transferFrom(src, position, count);
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    faults.op("read", path);
    return real.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return write(src, position, true);
  }

  @Override
  public MappedByteBuffer map(MapMode mode, long position, long size) throws IOException {
    faults.op("map", path);
    return real.map(mode, position, size);
  }

  @Override
  public FileLock lock(long position, long size, boolean shared) throws IOException {
    return real.lock(position, size, shared);
  }

  @Override
  public FileLock tryLock(long position, long size, boolean shared) throws IOException {
    return real.tryLock(position, size, shared);
  }

  @Override
  protected void implCloseChannel() throws IOException {
    real.close();
  }
}
