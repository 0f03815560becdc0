/*
 * spawn_eventfds: one big bucket for bench_fds.py --eventfds.
 *
 * Usage: spawn_eventfds N
 * Makes an unrelated process U with one eventfd of its own, then a process P with N
 * eventfds (every eventfd is the one anonymous inode, so all fall in one bucket) and
 * a fork(2) child C of P that inherits them all.  Raises RLIMIT_NOFILE to its hard
 * limit.  Prints "ready P C U" when all exist, then waits for EOF on stdin, kills and
 * reaps them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "spawn_eventfds: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void wait_forever(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) pause();
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 19000, ready[2];
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) die("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl)) die("setrlimit");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (pipe(ready)) die("pipe");
    pid_t u = fork();
    if (u < 0) die("fork");
    if (u == 0) {
        close(ready[0]);
        if (eventfd(0, 0) < 0) die("eventfd");
        if (write(ready[1], "u", 1) != 1) die("write");
        close(ready[1]);
        wait_forever();
    }
    int to_p[2];
    if (pipe(to_p)) die("pipe");
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        close(ready[0]);
        close(to_p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; i < n; i++)
            if (eventfd(0, 0) < 0) die("eventfd");
        pid_t c = fork();
        if (c < 0) die("fork");
        if (c == 0) wait_forever();
        if (write(to_p[1], &c, sizeof c) != sizeof c) die("write");
        close(to_p[1]);
        close(ready[1]);
        wait_forever();
    }
    close(ready[1]);
    close(to_p[1]);
    char byte;
    pid_t c;
    if (read(ready[0], &byte, 1) != 1 || read(to_p[0], &c, sizeof c) != sizeof c) die("read");
    printf("ready %d %d %d\n", p, c, u);
    fflush(stdout);
    while (read(0, &byte, 1) > 0) {}
    kill(p, SIGKILL);
    kill(u, SIGKILL);
    kill(c, SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR) {}
    return 0;
}
