/*
 * runstat: run a command; write its wall time and peak RSS to a file.
 *
 * Usage: runstat OUTFILE COMMAND [ARG...]
 * Writes "SECONDS MAXRSS_KIB STATUS" to OUTFILE.  The peak comes from wait4(), so it
 * covers the command and the children it waited for.  A small launcher matters:
 * Linux carries the hiwater RSS of the image a child had before exec() into its
 * ru_maxrss, so a command started straight from the (Python) benchmark would be
 * charged the benchmark's own memory.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: runstat OUTFILE COMMAND [ARG...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 3;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 3;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 3;
    }
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(out, "%.6f %ld %d\n", wall, ru.ru_maxrss, code);
    return fclose(out) ? 3 : 0;
}
