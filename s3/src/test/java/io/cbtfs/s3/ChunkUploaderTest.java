package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.Futures;
import io.cbtfs.syncer.crypto.EncryptionKey;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ChunkUploaderTest extends S3ServerTest {
  /**
   * Many chunks, in clear and sealed, through a real server: each one reads back as sent, and the
   * uploader made about as many arrays as chunks in flight (the caller's one, each connection's,
   * and a second for each chunk being sealed), not one or two per chunk.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void everyChunkReadsBackAndItsArraysAreReused(boolean sealed) throws IOException {
    ChunkObject codec = new ChunkObject(sealed ? EncryptionKey.generate() : null);
    int chunkBytes = 64 << 10;
    int chunkCount = 160;
    Random rnd = new Random(sealed ? 23 : 17);
    List<byte[]> sent = new ArrayList<>();
    List<CompletableFuture<byte[]>> names = new ArrayList<>();
    try (S3Store store = new S3Store(S3Location.parse(server.uri(bucket + "/store"), false))) {
      int made;
      try (ChunkUploader uploader =
          new ChunkUploader(store, Set.of(), codec, chunkBytes, S3Store.CONNECTIONS)) {
        for (int i = 0; i < chunkCount; i++) {
          byte[] data = new byte[chunkBytes - rnd.nextInt(4) * 4096];
          rnd.nextBytes(data);
          if (i % 3 == 0) {
            Arrays.fill(data, 0, data.length / 2, (byte) i); // half compressible: LZ4 too
          }
          byte[] array = uploader.array();
          assertThat(array.length).isGreaterThanOrEqualTo(ChunkObject.sealedBytes(chunkBytes));
          System.arraycopy(data, 0, array, 0, data.length);
          names.add(uploader.submit(array, data.length));
          sent.add(data);
        }
        for (CompletableFuture<byte[]> n : names) {
          Futures.await(n, "uploading");
        }
        made = uploader.arraysMade();
      }
      for (int i = 0; i < chunkCount; i++) {
        String hex = ChunkObject.hex(names.get(i).join());
        byte[] object =
            store.get(store.location().chunkKey(hex), ChunkObject.sealedBytes(chunkBytes) + 64);
        assertThat(codec.decode(object, hex, "chunk " + i)).isEqualTo(sent.get(i));
      }
      int inFlight = 1 + S3Store.CONNECTIONS + (sealed ? ChunkUploader.SEALING_AT_ONCE : 0);
      assertThat(made).isLessThanOrEqualTo(inFlight);
    }
  }

  /**
   * Fewer chunks in flight ({@link UploadMemory}'s answer for big chunks) hold fewer arrays and
   * fewer compressed copies: one thread, and one copy, per chunk in flight.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void fewerChunksInFlightHoldFewerArraysAndCopies(boolean sealed) throws IOException {
    ChunkObject codec = new ChunkObject(sealed ? EncryptionKey.generate() : null);
    int chunkBytes = 256 << 10;
    int inFlight = 3;
    Random rnd = new Random(29);
    List<CompletableFuture<byte[]>> names = new ArrayList<>();
    try (S3Store store = new S3Store(S3Location.parse(server.uri(bucket + "/store"), false));
        ChunkUploader uploader = new ChunkUploader(store, Set.of(), codec, chunkBytes, inFlight)) {
      for (int i = 0; i < 60; i++) {
        byte[] array = uploader.array();
        rnd.nextBytes(array);
        Arrays.fill(array, 0, chunkBytes / 4, (byte) 0); // LZ4 shrinks it: a copy is kept
        names.add(uploader.submit(array, chunkBytes));
      }
      for (CompletableFuture<byte[]> n : names) {
        Futures.await(n, "uploading");
      }
      assertThat(uploader.compressedCopies()).isBetween(1, inFlight);
      assertThat(uploader.arraysMade())
          .isLessThanOrEqualTo(1 + inFlight + (sealed ? ChunkUploader.SEALING_AT_ONCE : 0));
    }
  }
}
