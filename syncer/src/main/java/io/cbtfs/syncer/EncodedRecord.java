package io.cbtfs.syncer;

/**
 * One record ready for the stream: a run of image bytes {@code [byteOffset, byteOffset +
 * byteLength)}, its checksum, and its payload as it travels.
 *
 * @param checksum CRC32C over kind, offset, length and the uncompressed bytes
 * @param payload the bytes that travel ({@code payloadLength} of them; none for a zero record)
 */
public record EncodedRecord(
    RecordKind kind,
    long byteOffset,
    int byteLength,
    int checksum,
    byte[] payload,
    int payloadLength) {}
