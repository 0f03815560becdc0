/*
 * spawn_epoll: an epoll of a chosen shape, for bench_epoll.py.
 *
 * Usage: spawn_epoll fresh N           N registrations, in turn a pipe's read end and an
 *                                      eventfd, each still at the fd it was added under
 *        spawn_epoll stale N           the same, but every other file is moved (dup,
 *                                      then close): half the numbers are stale
 *        spawn_epoll children P C      P pipes' read ends registered, then C fork(2)
 *                                      children that inherit every fd
 * The data word of each registration is the fd the file is left at.  Raises
 * RLIMIT_NOFILE to its hard limit.  Prints "ready PID EPFD" when all exist, then waits
 * for EOF on stdin, kills and reaps every child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "spawn_epoll: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void add(int epfd, int i, int moved) {
    int fd, p[2];
    if (i % 2 == 0) {
        if (pipe(p)) die("pipe");
        fd = p[0];
    } else if ((fd = eventfd(0, 0)) < 0) {
        die("eventfd");
    }
    int at = fd;
    if (moved && (at = dup(fd)) < 0) die("dup");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)at};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
    if (at != fd) close(fd);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn_epoll fresh|stale N | children PIPES CHILDREN\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) die("getrlimit");
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl)) die("setrlimit");
    int epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    int n = atoi(argv[2]), children = 0;
    pid_t *pids = NULL;
    if (!strcmp(argv[1], "children")) {
        children = argc > 3 ? atoi(argv[3]) : 1000;
        for (int i = 0; i < n; i++) {
            int p[2];
            if (pipe(p)) die("pipe");
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)p[0]};
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev)) die("epoll_ctl");
        }
        pids = calloc((size_t)children, sizeof *pids);
        for (int i = 0; i < children; i++) {
            if ((pids[i] = fork()) < 0) die("fork");
            if (pids[i] == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;) pause();
            }
        }
    } else {
        int moved = !strcmp(argv[1], "stale");
        for (int i = 0; i < n; i++) add(epfd, i, moved && i % 4 >= 2);
    }
    printf("ready %d %d\n", getpid(), epfd);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    for (int i = 0; i < children; i++) kill(pids[i], SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR) {}
    return 0;
}
