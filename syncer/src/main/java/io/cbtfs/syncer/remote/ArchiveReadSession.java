package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.PositionalFile;
import io.cbtfs.syncer.local.ArchiveFiles;
import io.cbtfs.tracker.CbtfsException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.List;

/**
 * The receiver's side of a read session ({@link RemoteMessages#FLAG_READ}): LIST and READ requests
 * of one archive folder, until the reader hangs up or falls silent. It serves only the regular
 * files a reader uses ({@code archive.meta}, {@code gen-N.cbtd}) that lie in that folder itself,
 * never through a symbolic link, at most {@link RemoteMessages#MAX_READ_BYTES} per READ; it opens
 * files for reading only, so a session never changes the archive. It checks nothing of what it
 * serves: the reader verifies every byte.
 */
final class ArchiveReadSession {
  /** A request is small: a READ names a file of at most 255 bytes. */
  private static final int MAX_REQUEST = 1 + 255 + RemoteMessages.Read.FIXED_BYTES;

  private final ArchiveFiles files;
  private final String describe;

  /**
   * @param describe how an error names the archive ({@code NAME.archive})
   */
  ArchiveReadSession(ArchiveFiles files, String describe) {
    this.files = files;
    this.describe = describe;
  }

  /**
   * Serves requests until the reader hangs up or the idle timeout passes without one.
   *
   * @throws CbtfsException for a request that breaks the protocol or asks what is not served, or a
   *     file gone since it was listed: the caller sends it as ERR and ends the connection
   */
  void serve(DataInputStream in, DataOutputStream out) throws IOException {
    while (true) {
      Frames.Frame request;
      try {
        request = Frames.read(in, MAX_REQUEST);
      } catch (EOFException | SocketTimeoutException e) {
        return; // the reader is done, or idle: it reconnects when it reads again
      }
      if (request.type() == Frames.LIST && request.payload().length == 0) {
        list(out);
      } else if (request.type() == Frames.READ) {
        read(RemoteMessages.Read.parse(request.payload(), ArchiveFiles::isServed), out);
      } else {
        throw new CbtfsException(
            "protocol error: frame " + request.type() + " in a read session (LIST or READ)");
      }
    }
  }

  /** The files, as DATA frames of whole entries, then END. */
  private void list(DataOutputStream out) throws IOException {
    List<ArchiveFiles.Listed> listed = files.list();
    if (listed.size() > RemoteMessages.MAX_LISTED) {
      throw new CbtfsException(
          describe
              + " holds "
              + listed.size()
              + " files, more than a reader takes ("
              + RemoteMessages.MAX_LISTED
              + "): remove old generations with cbtfs gc");
    }
    ByteBuffer frame = ByteBuffer.allocate(Frames.MAX_PAYLOAD - 1024);
    for (ArchiveFiles.Listed l : listed) {
      RemoteMessages.Listed entry =
          new RemoteMessages.Listed(
              l.name(), l.byteSize(), l.modified().toEpochMilli(), l.fileId());
      if (frame.remaining() < entry.bytes()) {
        Frames.write(out, Frames.DATA, frame.array(), 0, frame.position());
        frame.clear();
      }
      entry.encode(frame);
    }
    if (frame.position() > 0) {
      Frames.write(out, Frames.DATA, frame.array(), 0, frame.position());
    }
    Frames.write(out, Frames.END, new byte[0]);
  }

  /** One DATA frame: the bytes asked for, fewer only where the file ends (none past its end). */
  private void read(RemoteMessages.Read r, DataOutputStream out) throws IOException {
    byte[] bytes = new byte[r.byteLength()];
    int n = 0;
    try (PositionalFile f = files.open(r.name())) {
      // checked after the open: the file then open is the listed one unless it was replaced
      // before this check (refused then, rightly); a replacement later leaves the open one whole.
      // Not archive.meta: every sync replaces it, and a reader reads it as it is now
      ArchiveFiles.Listed now = ArchiveFiles.META.equals(r.name()) ? null : files.stat(r.name());
      if (now != null && (now.byteSize() != r.listedSize() || now.fileId() != r.fileId())) {
        throw new CbtfsException(
            describe
                + "/"
                + r.name()
                + " was replaced since the reader listed it (a cbtfs gc of the archive?):"
                + " mount or restore it again");
      }
      while (n < bytes.length) {
        int got = f.read(ByteBuffer.wrap(bytes, n, bytes.length - n), r.byteOffset() + n);
        if (got < 0) {
          break;
        }
        n += got;
      }
    } catch (NoSuchFileException e) {
      throw new CbtfsException(describe + " has no file " + r.name() + " (any more)");
    }
    Frames.write(out, Frames.DATA, bytes, 0, n);
    out.flush();
  }
}
