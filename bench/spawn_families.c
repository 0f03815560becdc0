/*
 * spawn_families: N processes in families that share one fd table and one fs_struct.
 *
 * Usage: spawn_families N MAXSIZE
 * Families take sizes 1, 2, ..., MAXSIZE, 1, 2, ... until N processes exist.  For each
 * family this process unshare()s its own fd table and fs_struct, then clone()s the
 * members with CLONE_FILES|CLONE_FS, so the members share the fresh pair and nothing
 * else (each has its own address space, signal handlers, no io_context, no undo list).
 * Prints one line per family, "family PID...", then "ready", then waits for EOF on
 * stdin, kills and reaps every child and exits 0.  Children die with it (PDEATHSIG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));

static int member(void *arg) {
    char name[16];
    snprintf(name, sizeof name, "fam%ld", (long)arg);
    prctl(PR_SET_NAME, name);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(0);  /* the spawner died before PDEATHSIG was set */
    for (;;) pause();
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: spawn_families N MAXSIZE\n");
        return 2;
    }
    long n = atol(argv[1]), maxsize = atol(argv[2]);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!pids || n < 1 || maxsize < 1) return 2;
    long made = 0;
    for (long family = 0, size = 1; made < n; family++, size = size % maxsize + 1) {
        if (unshare(CLONE_FILES | CLONE_FS)) {
            perror("unshare");
            return 3;
        }
        printf("family");
        for (long i = 0; i < size && made < n; i++) {
            /* Without CLONE_VM the child runs on its own copy of this stack. */
            pid_t pid = clone(member, stack + sizeof stack, CLONE_FILES | CLONE_FS | SIGCHLD,
                              (void *)family);
            if (pid < 0) {
                perror("clone");
                for (long j = 0; j < made; j++) kill(pids[j], SIGKILL);
                return 3;
            }
            pids[made++] = pid;
            printf(" %d", pid);
        }
        printf("\n");
    }
    /* Share nothing with the last family. */
    if (unshare(CLONE_FILES | CLONE_FS)) perror("unshare");
    printf("ready\n");
    fflush(stdout);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {}
    for (long i = 0; i < made; i++) kill(pids[i], SIGKILL);
    for (long i = 0; i < made; i++) waitpid(pids[i], NULL, 0);
    return 0;
}
