package io.cbtfs.nbd;

/**
 * One block-status descriptor: {@code byteLength} bytes (at most 32 bits) with the same {@code
 * flags}.
 */
record Extent(long byteLength, int flags) {}
