/* A small SHA-256 (FIPS 180-4) for the C tests: checksums that the Rust
 * peer (sha2 crate) and sha256sum can be compared with. */
#ifndef FAASIN_TEST_SHA256_H
#define FAASIN_TEST_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t total;     /* bytes hashed so far */
    uint8_t block[64];  /* pending partial block */
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* Writes the digest as 64 lowercase hex digits plus NUL into hex[65]. */
void sha256_final_hex(sha256_ctx *c, char hex[65]);

#endif
