package io.cbtfs.syncer.local;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.NativeFile;
import io.cbtfs.syncer.StreamVerifier;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A local file a delta streams into while a {@link StreamVerifier} checks every byte (header as
 * announced, every record, the trailer). Two forms: {@link #ofDelta} keeps the delta's own bytes (a
 * journal or an archived generation to be), {@link #ofImage} writes each verified record into a new
 * image in place. {@link #finish} returns only for a delta that verified whole, in a durable file
 * that is still the one written; {@link #discard} deletes it.
 */
final class StagingFile {
  private final Path file;
  private final FileChannel channel;
  private final Object key;
  private final StreamVerifier verifier;
  private final StagingStream writer; // null: the verifier writes each record in place
  private final Closeable hints;
  private final OutputStream stream;

  private StagingFile(Path file, boolean inPlace) throws IOException {
    this.file = file;
    this.channel =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING,
            LinkOption.NOFOLLOW_LINKS);
    NativeFile writeback = null;
    StreamVerifier checks = null;
    try {
      this.key = fileKey(file);
      if (inPlace) {
        // on the verifier's thread, each record as it verified; a zero one (past the end of this
        // new file, records ascending) stays a hole, so no hole is ever punched here
        FileChannel out = channel;
        checks =
            new StreamVerifier(
                file.toString(),
                (k, o, d, l) -> {
                  try {
                    RecordWrites.apply(out, RecordWrites.NO_HOLES, k, o, d, l);
                  } catch (IOException e) { // a bare "No space left on device" names no file
                    throw new IOException("cannot write " + file + ": " + e.getMessage(), e);
                  }
                });
        this.writer = null;
        this.stream = checks; // it borrows the sender's buffers where the sender lends them
      } else {
        writeback = NativeFile.open(file);
        checks = new StreamVerifier(file.toString());
        this.writer = new StagingStream(file, channel, writeback, checks);
        this.stream = writer;
      }
    } catch (IOException | RuntimeException | Error e) {
      try (NativeFile hints = writeback;
          FileChannel out = channel) {
        if (checks != null) {
          checks.close(); // its thread ends
        }
      }
      throw e;
    }
    this.verifier = checks;
    NativeFile opened = writeback;
    this.hints = opened != null ? opened::close : () -> {};
  }

  /** Stages the delta's bytes as they arrive into {@code file} (created, or emptied). */
  static StagingFile ofDelta(Path file) throws IOException {
    return new StagingFile(file, false);
  }

  /**
   * Writes each verified record of a full delta into {@code file} (created, or emptied): the image
   * itself, written once.
   */
  static StagingFile ofImage(Path file) throws IOException {
    return new StagingFile(file, true);
  }

  Path path() {
    return file;
  }

  OutputStream stream() {
    return stream;
  }

  /**
   * Once every byte was written: the delta verified whole and was {@code announced}, the file is
   * durable (an image: its size too) and closed.
   *
   * @return the verified header
   * @throws io.cbtfs.syncer.CorruptDeltaException if the delta failed verification
   * @throws IOException if the file was replaced meanwhile (what verified is what gets committed)
   */
  DeltaHeader finish(DeltaHeader announced) throws IOException {
    if (writer != null) {
      writer.drain();
      writer.stop();
    }
    // once the verifier's result is in, so is every record it wrote into an image
    DeltaHeader header = verifier.result().header().requireSame(announced, file.toString());
    if (writer == null) {
      RecordWrites.resize(channel, header.imageSize());
    }
    // a delta's bytes (fdatasync), an image's bytes and size, durable before either can commit
    channel.force(writer == null);
    channel.close();
    hints.close();
    if (!key.equals(fileKey(file))) {
      throw new IOException(
          file
              + " was replaced while "
              + (writer == null ? "the replica was written" : "this delta was staged")
              + ": is another sync to this target running?");
    }
    return header;
  }

  /**
   * Deletes the file, once nothing writes into it any more (the verifier first: it may write into
   * an image); each step runs whatever the ones before threw.
   */
  void discard() throws IOException {
    try (Closeable delete = () -> Files.deleteIfExists(file);
        Closeable writeback = hints;
        FileChannel out = channel) {
      if (writer != null) {
        writer.stop();
      }
      try {
        verifier.result(); // ends the stream, and waits: its thread may still be writing
      } catch (IOException | RuntimeException e) {
        // an incomplete or rejected delta: what a discarded one is expected to be
      }
    }
  }

  /**
   * Discards the files an interrupted delivery left, unless a sync holds {@code syncLock}: then
   * they are its delta in the making.
   */
  static void discardAbandoned(Path syncLock, Path... files) throws IOException {
    try (TargetLock idle = TargetLock.tryAcquire(syncLock)) {
      if (idle != null) {
        for (Path f : files) {
          Files.deleteIfExists(f);
        }
      }
    }
  }

  /** The identity of {@code file} itself (a link's, not its target's). */
  private static Object fileKey(Path file) throws IOException {
    return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
        .fileKey();
  }
}
