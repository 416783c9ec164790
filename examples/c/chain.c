/* chain: runs functions joined by FAASIN streams, like a shell pipeline.
 *
 *   chain PRODUCER [ARGS...] -- [FILTER [ARGS...] --] CONSUMER [ARGS...]
 *
 * Each stage gets its input stream on fd 3 and its output stream on fd 4
 * (the FAASIN conventions, found by faasin_input() / faasin_output()), and
 * keeps stdin, stdout (its return value) and stderr (its logs). chain exits
 * 0 only if every stage did. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faasin.h"

#define MAX_STAGES 16

/* Puts `fd` on `target` in a child about to exec, clearing close-on-exec. */
static void place(int fd, int target) {
    if (dup2(fd, target) < 0) {
        perror("chain: dup2");
        _exit(127);
    }
}

int main(int argc, char **argv) {
    char **stage[MAX_STAGES];
    int n = 0;
    stage[n++] = argv + 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            argv[i] = NULL;
            if (n == MAX_STAGES) {
                fprintf(stderr, "chain: at most %d stages\n", MAX_STAGES);
                return 2;
            }
            stage[n++] = argv + i + 1;
        }
    }
    for (int i = 0; i < n; i++) {
        if (stage[i][0] == NULL) {
            fprintf(stderr, "usage: chain PRODUCER [ARGS...] -- [FILTER [ARGS...] --] CONSUMER [ARGS...]\n");
            return 2;
        }
    }
    /* Stream i joins stage i (writer) to stage i + 1 (reader). The fds are
     * close-on-exec and kept above 10, so placing them on 3 / 4 in a child
     * never overwrites one still needed. */
    int rd[MAX_STAGES], wr[MAX_STAGES];
    for (int i = 0; i + 1 < n; i++) {
        int fds[2];
        if (faasin_pipe(FAASIN_DEFAULT_CAPACITY, fds) < 0) {
            fprintf(stderr, "chain: faasin_pipe: %s\n", faasin_strerror(errno));
            return 1;
        }
        rd[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 10);
        wr[i] = fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
        if (rd[i] < 0 || wr[i] < 0) {
            perror("chain: fcntl");
            return 1;
        }
        close(fds[0]);
        close(fds[1]);
    }
    pid_t pid[MAX_STAGES];
    for (int i = 0; i < n; i++) {
        pid[i] = fork();
        if (pid[i] < 0) {
            perror("chain: fork");
            return 1;
        }
        if (pid[i] == 0) {
            if (i > 0) place(rd[i - 1], 3);
            if (i + 1 < n) place(wr[i], 4);
            execvp(stage[i][0], stage[i]);
            fprintf(stderr, "chain: %s: %s\n", stage[i][0], strerror(errno));
            _exit(127);
        }
    }
    /* Only the stages hold the streams now, so a stage that exits is seen
     * by its neighbours as EOF / EPIPE. */
    for (int i = 0; i + 1 < n; i++) {
        close(rd[i]);
        close(wr[i]);
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int status;
        while (waitpid(pid[i], &status, 0) < 0) {
            if (errno != EINTR) {
                perror("chain: waitpid");
                return 1;
            }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "chain: stage %d (%s) failed: %s %d\n", i + 1, stage[i][0],
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            failed = 1;
        }
    }
    return failed;
}
