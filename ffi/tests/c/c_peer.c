/* The C twin of core's Rust `peer` example, for cross-language tests:
 *
 *   c_peer write BYTES [SEED] [CHUNK]   # to faasin_output(); prints "BYTES SHA256"
 *   c_peer read [CHUNK]                 # from faasin_input(); prints "BYTES SHA256"
 *
 * It generates the same bytes as the Rust peer for the same SEED and CHUNK
 * (xorshift64, 8 little-endian bytes per step, restarting each chunk at a
 * step boundary), so the hashes of a C writer, a Rust writer and either
 * reader must all agree. The reader borrows and releases (zero-copy); the
 * writer uses faasin_write. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faasin.h"
#include "sha256.h"

static int fail(const char *what) {
    fprintf(stderr, "c_peer: %s: %s (%s)\n", what, faasin_strerror(errno), faasin_last_error());
    return 1;
}

int main(int argc, char **argv) {
    sha256_ctx h;
    sha256_init(&h);
    char hex[65];
    unsigned long long total = 0;
    if (argc >= 3 && strcmp(argv[1], "write") == 0) {
        total = strtoull(argv[2], NULL, 10);
        uint64_t state = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
        if (state == 0) state = 1;
        size_t chunk = argc > 4 ? strtoull(argv[4], NULL, 10) : 65536;
        unsigned char *buf = malloc(chunk + 8);
        faasin_writer *w = faasin_output();
        if (!buf || !w) return fail("output");
        for (unsigned long long left = total; left > 0;) {
            size_t n = left < chunk ? (size_t)left : chunk;
            for (size_t i = 0; i < n; i += 8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                for (int b = 0; b < 8 && i + b < n; b++) buf[i + b] = (unsigned char)(state >> (8 * b));
            }
            for (size_t done = 0; done < n;) {
                ssize_t k = faasin_write(w, buf + done, n - done);
                if (k < 0) return fail("write");
                done += (size_t)k;
            }
            sha256_update(&h, buf, n);
            left -= n;
        }
        if (faasin_writer_flush(w) < 0) return fail("flush");
        if (faasin_writer_close(w) < 0) return fail("close");
        free(buf);
    } else if (argc >= 2 && strcmp(argv[1], "read") == 0) {
        faasin_reader *r = faasin_input();
        if (!r) return fail("input");
        for (;;) {
            const void *data;
            ssize_t n = faasin_read_borrow(r, &data);
            if (n < 0) return fail("read");
            if (n == 0) break;
            sha256_update(&h, data, (size_t)n);
            total += (unsigned long long)n;
            if (faasin_read_release(r, (size_t)n) < 0) return fail("release");
        }
        faasin_reader_close(r);
    } else {
        fprintf(stderr, "usage: c_peer write BYTES [SEED] [CHUNK] | c_peer read [CHUNK]\n");
        return 2;
    }
    sha256_final_hex(&h, hex);
    printf("%llu %s\n", total, hex);
    return 0;
}
