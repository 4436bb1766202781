package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RequestCheckTest {
  private static final long SIZE = 1 << 20;
  private final RequestCheck readOnly = new RequestCheck(SIZE, false, true, 1);
  private final RequestCheck writable = new RequestCheck(SIZE, true, true, 1);

  private static Request request(int flags, int type, long offset, long length) {
    return new Request(flags, type, 1, offset, length);
  }

  @Test
  void rangesMustLieInsideTheExport() {
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_READ, SIZE - 1, 1))).isZero();
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_READ, SIZE - 1, 2))).isEqualTo(Nbd.EINVAL);
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_READ, Long.MAX_VALUE, 2)))
        .isEqualTo(Nbd.EINVAL); // wraps past 2^63
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_READ, -1, 1))).isEqualTo(Nbd.EINVAL);
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_BLOCK_STATUS, SIZE, 1))).isEqualTo(Nbd.EINVAL);
    assertThat(writable.errorOf(request(0, Nbd.CMD_WRITE, SIZE, 1))).isEqualTo(Nbd.ENOSPC);
    assertThat(writable.errorOf(request(0, Nbd.CMD_TRIM, SIZE, 1))).isEqualTo(Nbd.EINVAL);
  }

  @Test
  void readsAndWritesAreCapped() {
    RequestCheck big = new RequestCheck(1L << 40, true, true, 1);
    assertThat(big.errorOf(request(0, Nbd.CMD_READ, 0, Nbd.MAX_PAYLOAD_BYTES))).isZero();
    assertThat(big.errorOf(request(0, Nbd.CMD_READ, 0, Nbd.MAX_PAYLOAD_BYTES + 1L)))
        .isEqualTo(Nbd.EINVAL);
    assertThat(big.errorOf(request(0, Nbd.CMD_WRITE, 0, Nbd.MAX_PAYLOAD_BYTES + 1L)))
        .isEqualTo(Nbd.EINVAL);
    assertThat(big.errorOf(request(0, Nbd.CMD_READ, 0, 0))).isEqualTo(Nbd.EINVAL);
  }

  @Test
  void aReadOnlyExportRefusesChanges() {
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_WRITE, 0, 1))).isEqualTo(Nbd.EPERM);
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_TRIM, 0, 1))).isEqualTo(Nbd.EPERM);
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_FLUSH, 0, 0))).isEqualTo(Nbd.EINVAL);
    assertThat(writable.errorOf(request(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, 0, 1))).isZero();
  }

  @Test
  void blockStatusNeedsStructuredRepliesAndAContext() {
    Request status = request(Nbd.CMD_FLAG_REQ_ONE, Nbd.CMD_BLOCK_STATUS, 0, 4096);
    assertThat(readOnly.errorOf(status)).isZero();
    assertThat(new RequestCheck(SIZE, false, true, 0).errorOf(status)).isEqualTo(Nbd.EINVAL);
    assertThat(new RequestCheck(SIZE, false, false, 1).errorOf(status)).isEqualTo(Nbd.EINVAL);
    assertThat(readOnly.errorOf(request(Nbd.CMD_FLAG_REQ_ONE, Nbd.CMD_READ, 0, 1)))
        .isEqualTo(Nbd.EINVAL); // REQ_ONE belongs to block status
  }

  @Test
  void unknownCommandsAndFlagsAreInvalid() {
    assertThat(readOnly.errorOf(request(0, 5, 0, 1))).isEqualTo(Nbd.EINVAL); // CACHE: not offered
    assertThat(readOnly.errorOf(request(0, 0xffff, 0, 1))).isEqualTo(Nbd.EINVAL);
    assertThat(readOnly.errorOf(request(1 << 15, Nbd.CMD_READ, 0, 1))).isEqualTo(Nbd.EINVAL);
    assertThat(readOnly.errorOf(request(0, Nbd.CMD_DISC, 0, 0))).isZero();
  }
}
