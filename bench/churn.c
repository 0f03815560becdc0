/*
 * churn: keep K short-lived processes running, as a busy machine does.
 *
 * Usage: churn K MAXMS
 * Keeps K children alive; each sleeps a random 1..MAXMS milliseconds and exits, and is
 * reaped and replaced at once, so PIDs vanish (ESRCH) and new ones appear throughout.
 * MAXMS 0: the children never exit (the quiet baseline, same number of processes).
 * Prints "ready" once K children run, then runs until EOF on stdin; then kills and
 * reaps every child, prints "exits N" (children that exited on their own) and exits 0.
 * Children die with it (PDEATHSIG).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long maxms;

static pid_t spawn(void) {
    long ms = maxms ? 1 + rand() % maxms : 0;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(0);
        if (!ms) for (;;) pause();
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
        _exit(0);
    }
    return pid;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: churn K MAXMS\n");
        return 2;
    }
    long k = atol(argv[1]);
    maxms = atol(argv[2]);
    pid_t *kids = calloc((size_t)k, sizeof *kids);
    if (!kids || k < 1 || maxms < 0) return 2;
    srand((unsigned)getpid());
    for (long i = 0; i < k; i++) kids[i] = spawn();
    printf("ready\n");
    fflush(stdout);
    long exits = 0;
    struct pollfd in = {0, POLLIN, 0};
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            exits++;
            for (long i = 0; i < k; i++)
                if (kids[i] == pid) kids[i] = spawn();
        }
        if (poll(&in, 1, 1) > 0) {
            char buf[256];
            if (read(0, buf, sizeof buf) <= 0) break;
        }
    }
    for (long i = 0; i < k; i++) kill(kids[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {}
    printf("exits %ld\n", exits);
    return 0;
}
