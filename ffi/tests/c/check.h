/* Assertions for the C tests: a failed check prints where and why (with
 * errno and the library's last error) and exits non-zero. */
#ifndef FAASIN_TEST_CHECK_H
#define FAASIN_TEST_CHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faasin.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            int e_ = errno;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s; last error: %s)\n", \
                    __FILE__, __LINE__, #cond, e_, strerror(e_), faasin_last_error());  \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define EXPECT_FAILURE_(call, failed, code)                                             \
    do {                                                                                \
        errno = 0;                                                                      \
        __typeof__(call) r_ = (call);                                                   \
        int e_ = errno;                                                                 \
        if (!(failed) || e_ != (code)) {                                                \
            fprintf(stderr, "%s:%d: %s returned %ld with errno %d (%s), "     \
                    "expected failure with %s\n",                                       \
                    __FILE__, __LINE__, #call, (long)(intptr_t)r_, e_, strerror(e_), #code);            \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

/* `call` must return -1 and set errno to `code`. */
#define CHECK_FAIL(call, code) EXPECT_FAILURE_(call, r_ == -1, code)
/* `call` must return NULL and set errno to `code`. */
#define CHECK_NULL(call, code) EXPECT_FAILURE_(call, r_ == NULL, code)

#endif
