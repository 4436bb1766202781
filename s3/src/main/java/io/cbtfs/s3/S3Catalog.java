package io.cbtfs.s3;

import io.cbtfs.syncer.local.Restorable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * What a store holds: its images, their generations, its chunks ({@code cbtfs ls}). One S3 client
 * serves every question; close the catalog to let it go.
 */
public final class S3Catalog implements AutoCloseable {
  /** One image of a store. */
  public record Image(String name, List<Restorable.Generation> generations) {}

  /**
   * The store's totals.
   *
   * @param chunkBytes the bytes every chunk object takes (what the store costs)
   */
  public record Totals(long chunks, long chunkBytes, long manifests, long manifestBytes) {}

  private final S3Location store;
  private final S3Store s;

  /** {@code uri} names a store, {@code s3://BUCKET/[STORE]}. */
  public S3Catalog(String uri) {
    this.store = S3Location.parse(uri, false);
    this.s = new S3Store(store);
  }

  public String describe() {
    return store.describe();
  }

  public List<Image> images() throws IOException {
    List<Image> out = new ArrayList<>();
    for (String name : s.children(store.imagesPrefix())) {
      out.add(new Image(name, new S3Target(store.withImage(name)).generations(s)));
    }
    return out;
  }

  /** Image {@code name} of this store, to restore or read. */
  public Restorable image(String name) {
    return new S3Target(store.withImage(name));
  }

  public Totals totals() throws IOException {
    long chunks = 0;
    long chunkBytes = 0;
    for (S3Object o : s.list(store.chunksPrefix())) {
      if (!store.isChunkKey(o.key())) {
        continue;
      }
      chunks++;
      chunkBytes += o.size();
    }
    long manifests = 0;
    long manifestBytes = 0;
    for (S3Object o : s.list(store.imagesPrefix())) {
      if (store.manifestImage(o.key()) != null) {
        manifests++;
        manifestBytes += o.size();
      }
    }
    return new Totals(chunks, chunkBytes, manifests, manifestBytes);
  }

  @Override
  public void close() {
    s.close();
  }
}
