/*
 * spawn_fds: a machine busy with shared open file descriptions, for bench_fds.py.
 *
 * Usage: spawn_fds NPROCS
 * Makes about NPROCS sleeping processes in families of ten: a head forked from this
 * spawner, six fork(2) children and three clone(CLONE_FILES) children that share the
 * head's fd table.  Every process inherits a log file and a pipe from the spawner; each
 * family has its own pipe, socketpair, eventfd, an open of /etc/hostname and a dup;
 * each fork child also opens /etc/hostname itself (one inode, a description of its own).
 * Prints "ready" when all exist, then waits for EOF on stdin, kills and reaps them all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORKS 6
#define CLONES 3
#define STACK_SIZE (16 * 1024)

static void die(const char *what) {
    fprintf(stderr, "spawn_fds: %s: %s\n", what, strerror(errno));
    exit(3);
}

static int sleep_forever(void *arg) {
    (void)arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) pause();
    return 0;
}

static void head(int ready_fd) {
    int p[2], sp[2];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (open("/etc/hostname", O_RDONLY) < 0) die("open");
    if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) die("pipe");
    if (eventfd(0, 0) < 0 || dup(p[1]) < 0) die("eventfd");
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(ready_fd);
            if (open("/etc/hostname", O_RDONLY) < 0) die("open");
            sleep_forever(NULL);
        }
    }
    /* Not CLONE_VM: the child gets a copy of this memory, so a static stack serves all. */
    static char stack[STACK_SIZE] __attribute__((aligned(16)));
    for (int i = 0; i < CLONES; i++)
        if (clone(sleep_forever, stack + STACK_SIZE, CLONE_FILES | SIGCHLD, NULL) < 0)
            die("clone");
    if (write(ready_fd, "x", 1) != 1) die("write");
    close(ready_fd);
    sleep_forever(NULL);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int families = (n + FORKS + CLONES) / (1 + FORKS + CLONES);
    int ready[2], shared[2];
    pid_t *heads = calloc((size_t)families, sizeof *heads);
    char tmpl[] = "/tmp/spawn_fds.XXXXXX";
    int log = mkstemp(tmpl);
    if (log < 0 || !heads) die("mkstemp");
    unlink(tmpl);
    /* Orphans (children of a killed head) come to us, so we reap everything. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (pipe(ready) || pipe(shared)) die("pipe");
    for (int i = 0; i < families; i++) {
        heads[i] = fork();
        if (heads[i] < 0) die("fork");
        if (heads[i] == 0) {
            close(ready[0]);
            head(ready[1]);
        }
    }
    close(ready[1]);
    char c;
    for (int i = 0; i < families; i++)
        if (read(ready[0], &c, 1) != 1) die("read");
    printf("ready %d\n", families * (1 + FORKS + CLONES));
    fflush(stdout);
    while (read(0, &c, 1) > 0) {}
    for (int i = 0; i < families; i++) kill(heads[i], SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR) {}
    return 0;
}
