/* Two processes joined by faasin_pipe (fork after the pipe, open after the
 * fork): the child writes MiB pseudo-random bytes in varying chunks, mixing
 * faasin_write and reserve/commit; the parent reads them mixing faasin_read
 * and borrow/release. Both hash what they saw; the child sends its hash
 * over a plain pipe and the parent compares.
 *
 * usage: test_roundtrip [MIB] (default 256) */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sha256.h"

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(uint64_t *s, unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = next(s);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

static void writer(int fd, uint64_t total, int report) {
    faasin_writer *w = faasin_writer_open(fd);
    CHECK(w != NULL && faasin_writer_is_ring(w) == 1);
    static unsigned char buf[256 * 1024];
    uint64_t data = 0x9e3779b97f4a7c15, sizes = 42;
    sha256_ctx h;
    sha256_init(&h);
    for (uint64_t left = total, i = 0; left > 0; i++) {
        size_t n = 1 + next(&sizes) % sizeof buf;
        if (n > left) n = left;
        if (i % 2 == 0) {
            fill(&data, buf, n);
            CHECK(faasin_write(w, buf, n) == (ssize_t)n);
            sha256_update(&h, buf, n);
        } else {
            /* Reserve up to a quarter of the ring, fill it in place. */
            void *span;
            size_t want = n < 65536 ? n : 65536;
            ssize_t got = faasin_write_reserve(w, want, &span);
            CHECK(got >= (ssize_t)want);
            fill(&data, span, want);
            sha256_update(&h, span, want);
            CHECK(faasin_write_commit(w, want) == 0);
            n = want;
        }
        left -= n;
    }
    CHECK(faasin_writer_flush(w) == 0);
    CHECK(faasin_writer_close(w) == 0);
    char hex[65];
    sha256_final_hex(&h, hex);
    CHECK(write(report, hex, 64) == 64);
}

int main(int argc, char **argv) {
    uint64_t total = (uint64_t)(argc > 1 ? strtoull(argv[1], NULL, 10) : 256) << 20;
    int fds[2], report[2];
    CHECK(faasin_pipe(0, fds) == 0 && pipe(report) == 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        close(report[0]);
        writer(fds[1], total, report[1]);
        _exit(0);
    }
    close(fds[1]);
    close(report[1]);
    faasin_reader *r = faasin_reader_open(fds[0]);
    CHECK(r != NULL && faasin_reader_is_ring(r) == 1);
    static unsigned char buf[100000];
    sha256_ctx h;
    sha256_init(&h);
    uint64_t got = 0, sizes = 7;
    for (int i = 0;; i++) {
        ssize_t n;
        if (i % 2 == 0) {
            n = faasin_read(r, buf, 1 + next(&sizes) % sizeof buf);
            CHECK(n >= 0);
            sha256_update(&h, buf, (size_t)n);
        } else {
            /* Release only part of the borrow: the rest comes back next time. */
            const void *span;
            n = faasin_read_borrow(r, &span);
            CHECK(n >= 0);
            if (n > 1) n = 1 + (ssize_t)(next(&sizes) % (uint64_t)n);
            sha256_update(&h, span, (size_t)n);
            CHECK(faasin_read_release(r, (size_t)n) == 0);
        }
        if (n == 0) break;
        got += (uint64_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(faasin_reader_close(r) == 0);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char mine[65], theirs[65] = {0};
    sha256_final_hex(&h, mine);
    CHECK(read(report[0], theirs, 64) == 64);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("round trip: %llu bytes in %.2f s (both sides hashing), sha256 %s\n",
           (unsigned long long)got, s, mine);
    CHECK(got == total);
    CHECK(strcmp(mine, theirs) == 0);
    return 0;
}
