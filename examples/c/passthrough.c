#include <faasin.h>
#include <stdio.h>

int main(void) {                     /* copies its input stream to its output, counting bytes */
    faasin_reader *in = faasin_input();    /* FAASIN_FD, or fd 3 */
    faasin_writer *out = faasin_output();  /* FAASOUT_FD, or fd 4 */
    if (!in || !out) { fprintf(stderr, "%s\n", faasin_last_error()); return 1; }
    const void *data; ssize_t n; long long total = 0;
    while ((n = faasin_read_borrow(in, &data)) > 0) {     /* zero-copy view into the ring */
        if (faasin_write(out, data, n) < 0) return 1;     /* EPIPE if the next function left */
        faasin_read_release(in, n); total += n;
    }
    faasin_writer_close(out); faasin_reader_close(in);
    printf("{\"bytes\": %lld}\n", total);                /* the return value, on stdout */
    return n < 0;
}
