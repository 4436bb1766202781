package io.cbtfs.cli;

import io.cbtfs.fs.ServedFile;
import io.cbtfs.fs.ServedFiles;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.local.Restorable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The generations of stored images as read-only files: {@code NAME@N} is generation N of image
 * NAME, {@code NAME} its newest. A generation is indexed when its file is first read, and then read
 * in place through one shared {@link PieceCache}.
 */
final class GenerationFiles implements ServedFiles, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GenerationFiles.class);

  /** One stored image: its name in the mount, where it is stored, and its generations. */
  record Source(String name, Restorable store, List<Restorable.Generation> generations) {}

  private final TreeMap<String, Generation> files = new TreeMap<>();
  private final List<Source> sources;
  private final PieceCache cache;

  GenerationFiles(List<Source> sources, PieceCache cache) {
    this.sources = sources;
    this.cache = cache;
    for (Source s : sources) {
      for (Restorable.Generation g : s.generations()) {
        files.put(s.name() + "@" + g.generation(), new Generation(s.store(), g));
      }
    }
    // NAME@N is unique (N is all digits), a NAME alias is not: image "vm@2" must not take the
    // name of generation 2 of image "vm", so the generations go first and an alias only where free
    for (Source s : sources) {
      if (!s.generations().isEmpty()) {
        long newest = s.generations().get(s.generations().size() - 1).generation();
        if (files.putIfAbsent(s.name(), files.get(s.name() + "@" + newest)) != null) {
          log.warn(
              "{}: newest generation served as {}@{} only (a generation has its name)",
              s.name(),
              s.name(),
              newest);
        }
      }
    }
  }

  @Override
  public List<String> names() {
    return new ArrayList<>(files.keySet());
  }

  @Override
  public ServedFile file(String name) {
    return files.get(name);
  }

  /** How many files are served. */
  int count() {
    return files.size();
  }

  @Override
  public void close() throws IOException {
    IOException first = null;
    for (Generation g : new java.util.HashSet<>(files.values())) {
      try {
        g.close();
      } catch (IOException e) {
        first = first == null ? e : first;
      }
    }
    for (Source s : sources) {
      s.store().close();
    }
    if (first != null) {
      throw first;
    }
  }

  /** One generation: indexed on first use. */
  private final class Generation implements ServedFile {
    private final Restorable store;
    private final Restorable.Generation generation;
    private volatile StoredImage image;

    Generation(Restorable store, Restorable.Generation generation) {
      this.store = store;
      this.generation = generation;
    }

    private StoredImage image() throws IOException {
      StoredImage i = image;
      if (i == null) {
        synchronized (this) {
          if (image == null) {
            image = store.open(generation.generation(), cache);
          }
          i = image;
        }
      }
      return i;
    }

    @Override
    public long byteSize() {
      return generation.imageSize();
    }

    @Override
    public long modifiedSeconds() {
      return generation.created() == null ? 0 : generation.created().getEpochSecond();
    }

    @Override
    public void read(long byteOffset, byte[] into, int byteLength) throws IOException {
      image().read(byteOffset, into, byteLength);
    }

    @Override
    public long next(long byteOffset, boolean hole) throws IOException {
      return image().next(byteOffset, hole);
    }

    synchronized void close() throws IOException {
      if (image != null) {
        image.close();
        image = null;
      }
    }
  }
}
