/* consumer: a FAASIN function that reads text records ("... value=N\n")
 * from its input stream without copying them (borrow, parse in place,
 * release), sums their values, and returns
 * {"records": R, "bytes": B, "sum": S} on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faasin.h"

static long records;
static long long bytes, sum;

static void record(const char *line, size_t len) {
    const char *v = memchr(line, '=', len);
    if (v) sum += strtol(v + 1, NULL, 10);
    records++;
    bytes += (long long)len;
}

int main(void) {
    faasin_reader *in = faasin_input();
    if (!in) {
        fprintf(stderr, "consumer: %s\n", faasin_last_error());
        return 1;
    }
    /* A line cut at the end of what is readable now is copied here and
     * completed by the next borrow; every whole line is parsed in place. */
    char carry[256];
    size_t carried = 0;
    for (;;) {
        const void *data;
        ssize_t len = faasin_read_borrow(in, &data);
        if (len < 0) {
            fprintf(stderr, "consumer: %s\n", faasin_strerror(errno));
            return 1;
        }
        if (len == 0) break; /* the producer closed its end: done */
        const char *p = data, *end = p + len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            size_t n = (size_t)(nl + 1 - p);
            if (carried) {
                if (carried + n > sizeof carry) goto too_long;
                memcpy(carry + carried, p, n);
                record(carry, carried + n);
                carried = 0;
            } else {
                record(p, n);
            }
            p = nl + 1;
        }
        if (carried + (size_t)(end - p) > sizeof carry) goto too_long;
        memcpy(carry + carried, p, (size_t)(end - p));
        carried += (size_t)(end - p);
        if (faasin_read_release(in, (size_t)len) < 0) {
            fprintf(stderr, "consumer: %s\n", faasin_strerror(errno));
            return 1;
        }
    }
    if (carried) record(carry, carried);
    faasin_reader_close(in);
    printf("{\"records\": %ld, \"bytes\": %lld, \"sum\": %lld}\n", records, bytes, sum);
    return 0;
too_long:
    fprintf(stderr, "consumer: a record longer than %zu bytes\n", sizeof carry);
    return 1;
}
