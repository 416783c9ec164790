/* The C API's semantics, one process: NULL and bad fds, EOF, EPIPE, EAGAIN,
 * poll() readiness, zero-copy calls, timeouts, wrong ends, and the plain-fd
 * fallback. Each test prints its name; any failed check exits non-zero. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static void open_pair(size_t capacity, faasin_reader **r, faasin_writer **w) {
    int fds[2];
    CHECK(faasin_pipe(capacity, fds) == 0);
    CHECK(fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1]);
    CHECK((fcntl(fds[0], F_GETFD) & FD_CLOEXEC) && (fcntl(fds[1], F_GETFD) & FD_CLOEXEC));
    *r = faasin_reader_open(fds[0]);
    CHECK(*r != NULL);
    *w = faasin_writer_open(fds[1]);
    CHECK(*w != NULL);
    CHECK(faasin_reader_fd(*r) == fds[0] && faasin_writer_fd(*w) == fds[1]);
}

static int poll_in(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    CHECK(n >= 0);
    return n == 1 && (p.revents & (POLLIN | POLLHUP));
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_null_arguments(void) {
    char buf[8];
    const void *cdata = buf;
    void *data = buf;
    CHECK_FAIL(faasin_pipe(0, NULL), EINVAL);
    CHECK_FAIL(faasin_read(NULL, buf, sizeof buf), EINVAL);
    CHECK_FAIL(faasin_write(NULL, buf, sizeof buf), EINVAL);
    CHECK_FAIL(faasin_read_borrow(NULL, &cdata), EINVAL);
    CHECK_FAIL(faasin_read_release(NULL, 0), EINVAL);
    CHECK_FAIL(faasin_write_reserve(NULL, 1, &data), EINVAL);
    CHECK_FAIL(faasin_write_commit(NULL, 0), EINVAL);
    CHECK_FAIL(faasin_writer_flush(NULL), EINVAL);
    CHECK_FAIL(faasin_reader_fd(NULL), EINVAL);
    CHECK_FAIL(faasin_writer_fd(NULL), EINVAL);
    CHECK_FAIL(faasin_reader_set_nonblocking(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_writer_set_nonblocking(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_reader_set_timeout(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_writer_set_timeout(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_reader_set_spin(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_writer_set_spin(NULL, 1), EINVAL);
    CHECK_FAIL(faasin_reader_available(NULL), EINVAL);
    CHECK_FAIL(faasin_reader_is_ring(NULL), EINVAL);
    CHECK_FAIL(faasin_writer_is_ring(NULL), EINVAL);
    CHECK(strstr(faasin_last_error(), "NULL") != NULL);
    CHECK(faasin_reader_close(NULL) == 0);
    CHECK(faasin_writer_close(NULL) == 0);

    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    CHECK_FAIL(faasin_read(r, NULL, 1), EINVAL);
    CHECK_FAIL(faasin_write(w, NULL, 1), EINVAL);
    CHECK_FAIL(faasin_read_borrow(r, NULL), EINVAL);
    CHECK_FAIL(faasin_write_reserve(w, 1, NULL), EINVAL);
    /* NULL with length 0 is fine, as for read(2)/write(2). */
    CHECK(faasin_read(r, NULL, 0) == 0);
    CHECK(faasin_write(w, NULL, 0) == 0);
    CHECK(faasin_reader_close(r) == 0);
    CHECK(faasin_writer_close(w) == 0);
}

static void test_bad_fds_and_capacities(void) {
    int fds[2] = {-7, -7};
    CHECK_FAIL(faasin_pipe(1000, fds), EINVAL); /* not a power of two */
    CHECK_FAIL(faasin_pipe(1024, fds), EINVAL); /* below one page */
    CHECK(fds[0] == -7 && fds[1] == -7);
    CHECK(strstr(faasin_strerror(EINVAL), "invalid") != NULL);

    CHECK_NULL(faasin_reader_open(-1), EBADF);
    CHECK_NULL(faasin_writer_open(-1), EBADF);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(close(p[0]) == 0 && close(p[1]) == 0);
    CHECK_NULL(faasin_reader_open(p[0]), EBADF); /* closed: nothing to take */
    CHECK_NULL(faasin_writer_open(p[1]), EBADF);

    /* Opening the wrong end of a stream. */
    CHECK(faasin_pipe(4096, fds) == 0);
    int spare_w = dup(fds[1]), spare_r = dup(fds[0]);
    CHECK(spare_w >= 0 && spare_r >= 0);
    CHECK_NULL(faasin_reader_open(fds[1]), EINVAL);
    CHECK(strstr(faasin_last_error(), "write end") != NULL);
    CHECK_NULL(faasin_writer_open(fds[0]), EINVAL);
    /* The fds were taken anyway (closed), as documented. */
    CHECK(fcntl(fds[0], F_GETFD) == -1 && errno == EBADF);
    CHECK(fcntl(fds[1], F_GETFD) == -1 && errno == EBADF);
    /* The endpoints were not consumed: the dups still open correctly. */
    faasin_reader *r = faasin_reader_open(spare_r);
    faasin_writer *w = faasin_writer_open(spare_w);
    CHECK(r && w);
    CHECK(faasin_reader_is_ring(r) == 1 && faasin_writer_is_ring(w) == 1);
    CHECK(faasin_write(w, "x", 1) == 1);
    char c;
    CHECK(faasin_read(r, &c, 1) == 1 && c == 'x');
    /* An endpoint whose hello was taken already is not an endpoint any more. */
    int again = dup(spare_r);
    CHECK(again >= 0);
    CHECK_NULL(faasin_reader_open(again), EBADMSG);
    CHECK(strstr(faasin_strerror(EBADMSG), "FAASIN") != NULL);
    faasin_reader_close(r);
    faasin_writer_close(w);
}

static void test_eof(void) {
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    CHECK(faasin_write(w, "hello", 5) == 5);
    CHECK(faasin_reader_available(r) == 5);
    CHECK(faasin_writer_close(w) == 0);
    char buf[16] = {0};
    /* Every committed byte first, then 0, and 0 again. */
    CHECK(faasin_read(r, buf, 3) == 3 && memcmp(buf, "hel", 3) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 2 && memcmp(buf, "lo", 2) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 0);
    const void *data = buf;
    CHECK(faasin_read_borrow(r, &data) == 0 && data == NULL);
    CHECK(faasin_reader_close(r) == 0);
}

static void test_epipe(void) {
    /* Default SIGPIPE disposition: a signal would kill this test. */
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    CHECK(faasin_writer_flush(w) == 0);
    CHECK(faasin_write(w, "lost", 4) == 4);
    CHECK(faasin_reader_close(r) == 0);
    CHECK_FAIL(faasin_write(w, "x", 1), EPIPE);
    CHECK_FAIL(faasin_writer_flush(w), EPIPE); /* 4 bytes were left unread */
    void *data;
    CHECK_FAIL(faasin_write_reserve(w, 1, &data), EPIPE);
    CHECK(strstr(faasin_strerror(EPIPE), "reader") != NULL);
    CHECK(faasin_writer_close(w) == 0);

    /* A reader (in another process) that leaves while the writer is blocked
     * wakes it: the bytes that fit count, then EPIPE. Fork before opening:
     * closing an opened end marks the shared ring closed for both processes. */
    int fds[2];
    CHECK(faasin_pipe(4096, fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[1]);
        r = faasin_reader_open(fds[0]);
        CHECK(r != NULL);
        usleep(50 * 1000);
        faasin_reader_close(r);
        _exit(0);
    }
    close(fds[0]);
    w = faasin_writer_open(fds[1]);
    CHECK(w != NULL);
    static char big[3 * 4096];
    ssize_t n = faasin_write(w, big, sizeof big);
    CHECK(n == 4096); /* the first ring-full, then the reader left */
    CHECK_FAIL(faasin_write(w, big, sizeof big), EPIPE);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    faasin_writer_close(w);
}

static void test_eagain_and_poll(void) {
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    int rfd = faasin_reader_fd(r), wfd = faasin_writer_fd(w);
    CHECK(faasin_reader_set_nonblocking(r, 1) == 0);
    CHECK(faasin_writer_set_nonblocking(w, 1) == 0);
    char buf[8192];
    const void *cdata;
    void *data;

    /* Reader: EAGAIN arms readiness; a write makes the fd readable. */
    CHECK_FAIL(faasin_read(r, buf, sizeof buf), EAGAIN);
    CHECK_FAIL(faasin_read_borrow(r, &cdata), EAGAIN);
    CHECK(!poll_in(rfd, 0));
    CHECK(faasin_write(w, "abc", 3) == 3);
    CHECK(poll_in(rfd, 1000));
    CHECK(faasin_read(r, buf, sizeof buf) == 3);
    CHECK_FAIL(faasin_read(r, buf, sizeof buf), EAGAIN);

    /* Writer: a short write fills the ring, then EAGAIN; the write end polls
     * POLLIN, not POLLOUT, and a read makes it readable. */
    memset(buf, 'z', sizeof buf);
    CHECK(faasin_write(w, buf, sizeof buf) == 4096);
    CHECK_FAIL(faasin_write(w, buf, 1), EAGAIN);
    CHECK_FAIL(faasin_write_reserve(w, 1, &data), EAGAIN);
    CHECK(!poll_in(wfd, 0));
    CHECK(faasin_read(r, buf, 100) == 100);
    CHECK(poll_in(wfd, 1000));
    CHECK(faasin_write(w, buf, sizeof buf) == 100);
    CHECK(faasin_write_reserve(w, 0, &data) == 0); /* min 0 never waits */

    /* A write end set back to blocking waits for space: here for the
     * reader in a thread-free way, by a timeout, then by freed space. */
    CHECK(faasin_writer_set_nonblocking(w, 0) == 0);
    CHECK(faasin_writer_set_timeout(w, 20) == 0);
    CHECK_FAIL(faasin_write(w, buf, 1), ETIMEDOUT);
    /* A read returns what it sees at once (maybe less than all): drain. */
    for (size_t got = 0; got < 4096;) {
        ssize_t n = faasin_read(r, buf, 4096 - got);
        CHECK(n > 0);
        got += (size_t)n;
    }
    CHECK(faasin_write(w, buf, 4096) == 4096);
    faasin_reader_close(r);
    faasin_writer_close(w);

    /* EOF is a readiness event too. */
    open_pair(4096, &r, &w);
    CHECK(faasin_reader_set_nonblocking(r, 1) == 0);
    CHECK_FAIL(faasin_read(r, buf, 1), EAGAIN);
    CHECK(!poll_in(faasin_reader_fd(r), 0));
    faasin_writer_close(w);
    CHECK(poll_in(faasin_reader_fd(r), 1000));
    CHECK(faasin_read(r, buf, 1) == 0);
    faasin_reader_close(r);

    /* And the reader leaving wakes a polling writer, which then sees EPIPE. */
    open_pair(4096, &r, &w);
    CHECK(faasin_writer_set_nonblocking(w, 1) == 0);
    CHECK(faasin_write(w, buf, 4096) == 4096);
    CHECK_FAIL(faasin_write(w, buf, 1), EAGAIN);
    faasin_reader_close(r);
    CHECK(poll_in(faasin_writer_fd(w), 1000));
    CHECK_FAIL(faasin_write(w, buf, 1), EPIPE);
    faasin_writer_close(w);
}

static void test_zero_copy(void) {
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    void *data = NULL;
    const void *cdata = NULL;

    CHECK_FAIL(faasin_write_commit(w, 1), EINVAL); /* nothing reserved */
    CHECK_FAIL(faasin_write_reserve(w, 4097, &data), EINVAL);
    CHECK(strstr(faasin_last_error(), "capacity") != NULL);
    ssize_t n = faasin_write_reserve(w, 10, &data);
    CHECK(n == 4096 && data != NULL);
    memcpy(data, "0123456789", 10);
    CHECK_FAIL(faasin_write_commit(w, 4097), EINVAL);
    n = faasin_write_reserve(w, 10, &data); /* a failed commit kept nothing */
    CHECK(n == 4096);
    memcpy(data, "0123456789", 10);
    CHECK(faasin_write_commit(w, 10) == 0);
    CHECK_FAIL(faasin_write_commit(w, 1), EINVAL); /* reservation ended */

    n = faasin_read_borrow(r, &cdata);
    CHECK(n == 10 && memcmp(cdata, "0123456789", 10) == 0);
    CHECK_FAIL(faasin_read_release(r, 11), EINVAL);
    CHECK(strstr(faasin_last_error(), "borrowed") != NULL);
    CHECK(faasin_read_release(r, 4) == 0);
    CHECK_FAIL(faasin_read_release(r, 7), EINVAL); /* only 6 left */
    n = faasin_read_borrow(r, &cdata);
    CHECK(n == 6 && memcmp(cdata, "456789", 6) == 0);
    CHECK(faasin_read_release(r, 6) == 0);
    CHECK(faasin_reader_available(r) == 0);

    /* A reservation dropped by a plain write publishes nothing. */
    CHECK(faasin_write_reserve(w, 3, &data) >= 3);
    memcpy(data, "XYZ", 3);
    CHECK(faasin_write(w, "ab", 2) == 2);
    CHECK_FAIL(faasin_write_commit(w, 3), EINVAL);

    /* Spans are contiguous across the wrap of the ring (offset 12 now). */
    CHECK(faasin_read_borrow(r, &cdata) == 2 && memcmp(cdata, "ab", 2) == 0);
    CHECK(faasin_read_release(r, 2) == 0);
    n = faasin_write_reserve(w, 4096, &data);
    CHECK(n == 4096);
    for (int i = 0; i < 4096; i++) ((unsigned char *)data)[i] = (unsigned char)(i * 7);
    CHECK(faasin_write_commit(w, 4096) == 0);
    n = faasin_read_borrow(r, &cdata);
    CHECK(n == 4096);
    for (int i = 0; i < 4096; i++) CHECK(((const unsigned char *)cdata)[i] == (unsigned char)(i * 7));
    CHECK(faasin_read_release(r, 4096) == 0);

    faasin_reader_close(r);
    faasin_writer_close(w);
}

/* Plays a hostile writer: takes the writer's hello (and the ring's memfd)
 * off the write end itself, maps the ring, and scribbles on write_pos. The
 * reader must report EBADMSG, never crash or read out of bounds. */
static void test_hostile_peer(void) {
    int fds[2];
    CHECK(faasin_pipe(4096, fds) == 0);
    unsigned char hello[64];
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = hello, .iov_len = sizeof hello};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    ssize_t n = recvmsg(fds[1], &msg, MSG_CMSG_CLOEXEC);
    CHECK(n >= 24);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    CHECK(cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS);
    int memfd;
    memcpy(&memfd, CMSG_DATA(cm), sizeof memfd);
    uint32_t header_size;
    uint64_t capacity;
    memcpy(&header_size, hello + 12, 4);
    memcpy(&capacity, hello + 16, 8);
    CHECK(capacity == 4096 && header_size >= 512);
    unsigned char *ring = mmap(NULL, header_size + capacity, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    CHECK(ring != MAP_FAILED);
    uint64_t *write_pos = (uint64_t *)(ring + 128); /* the writer's line */

    faasin_reader *r = faasin_reader_open(fds[0]);
    CHECK(r != NULL);
    /* Honest bytes first: a hostile peer can only change what it sends. */
    memcpy(ring + header_size, "hostile", 7);
    __atomic_store_n(write_pos, 7, __ATOMIC_RELEASE);
    char buf[16];
    CHECK(faasin_read(r, buf, sizeof buf) == 7 && memcmp(buf, "hostile", 7) == 0);
    /* More than a ring's worth ahead of the reader. */
    __atomic_store_n(write_pos, 7 + capacity + 1, __ATOMIC_RELEASE);
    CHECK_FAIL(faasin_read(r, buf, sizeof buf), EBADMSG);
    CHECK(strstr(faasin_last_error(), "write_pos") != NULL);
    const void *data;
    CHECK_FAIL(faasin_read_borrow(r, &data), EBADMSG);
    /* Behind the reader. */
    __atomic_store_n(write_pos, 3, __ATOMIC_RELEASE);
    CHECK_FAIL(faasin_read(r, buf, sizeof buf), EBADMSG);
    CHECK_FAIL(faasin_reader_available(r), EBADMSG);
    CHECK(faasin_reader_close(r) == 0);
    munmap(ring, header_size + capacity);
    close(memfd);
    close(fds[1]);
}

static void on_alarm(int sig) { (void)sig; }

/* A signal that arrives while a read waits interrupts it, as read(2) does
 * for a handler installed without SA_RESTART. */
static void test_eintr(void) {
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    CHECK(faasin_reader_set_spin(r, 0) == 0);
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    CHECK(sigemptyset(&sa.sa_mask) == 0 && sigaction(SIGALRM, &sa, &old) == 0);
    struct itimerval t = {.it_value = {.tv_usec = 50 * 1000}};
    CHECK(setitimer(ITIMER_REAL, &t, NULL) == 0);
    char c;
    CHECK_FAIL(faasin_read(r, &c, 1), EINTR);
    CHECK(sigaction(SIGALRM, &old, NULL) == 0);
    /* The reader still works afterwards. */
    CHECK(faasin_write(w, "k", 1) == 1);
    CHECK(faasin_read(r, &c, 1) == 1 && c == 'k');
    faasin_reader_close(r);
    faasin_writer_close(w);
}

static void test_timeouts(void) {
    faasin_reader *r;
    faasin_writer *w;
    open_pair(4096, &r, &w);
    char buf[4096] = {0};
    void *data;
    CHECK(faasin_reader_set_spin(r, 0) == 0 && faasin_writer_set_spin(w, 0) == 0);
    CHECK(faasin_reader_set_timeout(r, 50) == 0);
    double t = now_ms();
    CHECK_FAIL(faasin_read(r, buf, 1), ETIMEDOUT);
    CHECK(now_ms() - t >= 45);
    CHECK(strstr(faasin_strerror(ETIMEDOUT), "timed out") != NULL);
    CHECK(faasin_writer_set_timeout(w, 30) == 0);
    CHECK(faasin_write(w, buf, sizeof buf) == 4096);
    t = now_ms();
    CHECK_FAIL(faasin_write(w, buf, 1), ETIMEDOUT);
    CHECK_FAIL(faasin_write_reserve(w, 1, &data), ETIMEDOUT);
    CHECK(now_ms() - t >= 55);
    /* Back to waiting forever: data is there, so no wait at all. */
    CHECK(faasin_reader_set_timeout(r, -1) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 4096);
    faasin_reader_close(r);
    faasin_writer_close(w);
}

/* A plain pipe is not an endpoint: the same calls use read(2)/write(2). */
static void test_plain_fd_fallback(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    faasin_reader *r = faasin_reader_open(p[0]);
    faasin_writer *w = faasin_writer_open(p[1]);
    CHECK(r && w);
    CHECK(faasin_reader_is_ring(r) == 0 && faasin_writer_is_ring(w) == 0);
    CHECK(faasin_reader_fd(r) == p[0] && faasin_writer_fd(w) == p[1]);
    CHECK(faasin_write(w, "plain", 5) == 5);
    char buf[16] = {0};
    CHECK(faasin_read(r, buf, 2) == 2 && memcmp(buf, "pl", 2) == 0);
    const void *cdata;
    CHECK(faasin_read_borrow(r, &cdata) == 3 && memcmp(cdata, "ain", 3) == 0);
    CHECK_FAIL(faasin_read_release(r, 4), EINVAL);
    CHECK(faasin_read_release(r, 3) == 0);
    void *data;
    ssize_t n = faasin_write_reserve(w, 4, &data);
    CHECK(n >= 4);
    memcpy(data, "copy", 4);
    CHECK(faasin_write_commit(w, 4) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 4 && memcmp(buf, "copy", 4) == 0);
    CHECK(faasin_reader_set_nonblocking(r, 1) == 0);
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CHECK_FAIL(faasin_read(r, buf, sizeof buf), EAGAIN);
    CHECK(faasin_writer_close(w) == 0);
    CHECK(faasin_read(r, buf, sizeof buf) == 0);
    CHECK(faasin_reader_close(r) == 0);
    CHECK(fcntl(p[0], F_GETFD) == -1 && errno == EBADF); /* closed with the reader */

    /* On a plain pipe too, a write after the reader left is EPIPE and no
     * signal: with the default disposition a SIGPIPE would kill this test.
     * And the thread's signal mask is as it was. */
    CHECK(pipe(p) == 0);
    CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    w = faasin_writer_open(p[1]);
    CHECK(w != NULL);
    close(p[0]);
    CHECK_FAIL(faasin_write(w, "x", 1), EPIPE);
    void *span;
    CHECK(faasin_write_reserve(w, 1, &span) >= 1);
    memcpy(span, "y", 1);
    CHECK_FAIL(faasin_write_commit(w, 1), EPIPE);
    sigset_t mask, pending;
    CHECK(pthread_sigmask(SIG_SETMASK, NULL, &mask) == 0 && !sigismember(&mask, SIGPIPE));
    CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGPIPE));
    faasin_writer_close(w);
}

/* On a plain pipe too, a read or write that waits longer than its timeout
 * fails with ETIMEDOUT, and the end works on afterwards. */
static void test_plain_fd_timeouts(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    int pipe_size = fcntl(p[1], F_GETPIPE_SZ);
    CHECK(pipe_size > 0);
    faasin_reader *r = faasin_reader_open(p[0]);
    faasin_writer *w = faasin_writer_open(p[1]);
    CHECK(r && w && !faasin_reader_is_ring(r) && !faasin_writer_is_ring(w));
    char buf[4096] = {0};
    CHECK(faasin_reader_set_timeout(r, 50) == 0);
    double t = now_ms();
    CHECK_FAIL(faasin_read(r, buf, 1), ETIMEDOUT);
    CHECK(now_ms() - t >= 45);
    /* Fill the pipe: writes move what fits until one finds no room. */
    CHECK(faasin_writer_set_timeout(w, 30) == 0);
    ssize_t n;
    long total = 0;
    t = now_ms();
    while ((n = faasin_write(w, buf, sizeof buf)) > 0) total += n;
    CHECK(n == -1 && errno == ETIMEDOUT);
    CHECK(now_ms() - t >= 25);
    CHECK(total == pipe_size);
    for (long got = 0; got < total; got += n) CHECK((n = faasin_read(r, buf, sizeof buf)) > 0);
    CHECK(faasin_write(w, "ok", 2) == 2);
    CHECK(faasin_read(r, buf, sizeof buf) == 2 && memcmp(buf, "ok", 2) == 0);
    faasin_reader_close(r);
    faasin_writer_close(w);
}

static void test_function_streams(void) {
    /* A bad FAASIN_FD, then one naming a closed fd; a failure does not
     * count as taking the stream. */
    CHECK(setenv("FAASIN_FD", "three", 1) == 0);
    CHECK_NULL(faasin_input(), EINVAL);
    CHECK(setenv("FAASIN_FD", "987", 1) == 0);
    CHECK_NULL(faasin_input(), ENOENT);
    CHECK(strstr(faasin_last_error(), "987") != NULL);

    /* No env and fd 3/4 not endpoints: a clear error. */
    unsetenv("FAASIN_FD");
    unsetenv("FAASOUT_FD");
    unsetenv("FAASIN_SOCKET");
    int devnull = open("/dev/null", O_RDWR);
    CHECK(devnull >= 0);
    CHECK(dup2(devnull, 3) == 3 && dup2(devnull, 4) == 4);
    CHECK_NULL(faasin_input(), ENOENT);
    CHECK(strstr(faasin_last_error(), "FAASIN_FD") != NULL);
    CHECK_NULL(faasin_output(), ENOENT);
    close(3);
    close(4);
    close(devnull);

    /* fd 3 / 4 as endpoints, without env: found by convention. */
    int fds[2];
    CHECK(faasin_pipe(4096, fds) == 0);
    /* Move them out of the way first: the fds may be 3 or 4 themselves. */
    int hi_r = fcntl(fds[0], F_DUPFD_CLOEXEC, 100), hi_w = fcntl(fds[1], F_DUPFD_CLOEXEC, 100);
    CHECK(hi_r >= 100 && hi_w >= 100);
    close(fds[0]);
    close(fds[1]);
    CHECK(dup2(hi_r, 3) == 3 && dup2(hi_w, 4) == 4);
    close(hi_r);
    close(hi_w);
    faasin_reader *r = faasin_input();
    faasin_writer *w = faasin_output();
    CHECK(r && w);
    CHECK(faasin_reader_fd(r) == 3 && faasin_writer_fd(w) == 4);
    CHECK_NULL(faasin_input(), EEXIST); /* taken once per process */
    CHECK_NULL(faasin_output(), EEXIST);
    CHECK(faasin_write(w, "fn", 2) == 2);
    char buf[2];
    CHECK(faasin_read(r, buf, 2) == 2 && memcmp(buf, "fn", 2) == 0);
    faasin_reader_close(r);
    faasin_writer_close(w);
}

int main(void) {
    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"null_arguments", test_null_arguments},
        {"bad_fds_and_capacities", test_bad_fds_and_capacities},
        {"eof", test_eof},
        {"epipe", test_epipe},
        {"eagain_and_poll", test_eagain_and_poll},
        {"zero_copy", test_zero_copy},
        {"timeouts", test_timeouts},
        {"eintr", test_eintr},
        {"hostile_peer", test_hostile_peer},
        {"plain_fd_fallback", test_plain_fd_fallback},
        {"plain_fd_timeouts", test_plain_fd_timeouts},
        {"function_streams", test_function_streams},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        tests[i].run();
        printf("ok %zu - %s\n", i + 1, tests[i].name);
    }
    return 0;
}
