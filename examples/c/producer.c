/* producer: a FAASIN function that writes COUNT text records to its output
 * stream, straight into the ring (reserve, fill, commit), and returns
 * {"records": COUNT, "bytes": N} on stdout.
 *
 *   chain ./producer 100000 -- ./consumer */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "faasin.h"

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000;
    faasin_writer *out = faasin_output();
    if (!out) {
        fprintf(stderr, "producer: %s\n", faasin_last_error());
        return 1;
    }
    long long bytes = 0;
    for (long i = 0; i < count; i++) {
        void *span;
        /* A record is at most 64 bytes: reserve that much, use what we print. */
        ssize_t len = faasin_write_reserve(out, 64, &span);
        if (len < 0) {
            fprintf(stderr, "producer: %s\n", faasin_strerror(errno));
            return 1;
        }
        int n = snprintf(span, 64, "record %ld value=%ld\n", i, i * 3 % 1000);
        if (faasin_write_commit(out, (size_t)n) < 0) {
            fprintf(stderr, "producer: %s\n", faasin_strerror(errno));
            return 1;
        }
        bytes += n;
    }
    if (faasin_writer_close(out) < 0) {
        fprintf(stderr, "producer: %s\n", faasin_strerror(errno));
        return 1;
    }
    printf("{\"records\": %ld, \"bytes\": %lld}\n", count, bytes);
    return 0;
}
