package io.cbtfs.syncer.faults;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Which target I/O fails, and how: the k-th operation (counted from {@link #arm}) of every path of
 * a {@link FaultyFileSystem}. Operations are opens, reads, writes, fsyncs, truncates, renames,
 * links, removals and folder creations; closes never fail (the kernel releases a descriptor
 * whatever happens).
 */
public final class Faults {
  /** What the k-th operation meets. */
  public enum Kind {
    /** ENOSPC once; later operations succeed (space was freed). */
    NO_SPACE,
    /** EIO once. */
    IO_ERROR,
    /** The k-th write writes only part of its bytes (legal for write(2)); k counts writes. */
    SHORT_WRITE,
    /** The process dies: operation k and every one after it fail, nothing more reaches the disk. */
    CRASH
  }

  private Kind kind;
  private long failAt; // 0: disarmed
  private long alsoAt; // a second operation that fails the same way (0: none)
  private long count;
  private boolean fired;
  private final List<String> trace = new ArrayList<>();

  /** From now on, the {@code k}-th operation (1-based) meets {@code kind}. */
  public synchronized void arm(Kind kind, long k) {
    arm(kind, k, 0);
  }

  /** As {@link #arm(Kind, long)}, and the {@code also}-th operation fails too (0: none). */
  public synchronized void arm(Kind kind, long k, long also) {
    this.kind = kind;
    this.failAt = k;
    this.alsoAt = also;
    this.count = 0;
    this.fired = false;
    trace.clear();
  }

  /** No more faults; returns how many operations ran since {@link #arm}. */
  public synchronized long disarm() {
    failAt = 0;
    return count;
  }

  /** Whether the armed fault happened. */
  public synchronized boolean fired() {
    return fired;
  }

  /** The operations since {@link #arm}, for a failure message. */
  public synchronized List<String> trace() {
    return List.copyOf(trace);
  }

  /**
   * Counts an operation other than a write (short writes count writes only); throws if it is to
   * fail.
   */
  synchronized void op(String what, Path path) throws IOException {
    if (kind != Kind.SHORT_WRITE && countAndCheck(what, path)) {
      throw failure(path);
    }
  }

  /**
   * Counts a write of {@code length} bytes; returns how many bytes it may write ({@code length}, or
   * fewer for a short write), or throws.
   */
  synchronized int write(Path path, int length) throws IOException {
    if (!countAndCheck("write " + length, path)) {
      return length;
    }
    if (kind == Kind.SHORT_WRITE) {
      return length > 1 ? length / 2 : length;
    }
    throw failure(path);
  }

  private boolean countAndCheck(String what, Path path) {
    if (failAt == 0) {
      return false;
    }
    count++;
    trace.add(count + " " + what + " " + path.getFileName());
    if (kind == Kind.CRASH && count > failAt) {
      return true;
    }
    if (count == failAt) {
      fired = true;
      return true;
    }
    return count == alsoAt;
  }

  private IOException failure(Path path) {
    String reason =
        switch (kind) {
          case NO_SPACE -> "No space left on device";
          case IO_ERROR -> "Input/output error";
          case CRASH -> "Input/output error (the process died here)";
          case SHORT_WRITE -> throw new IllegalStateException();
        };
    return new FileSystemException(path.toString(), null, reason + " (injected)");
  }
}
