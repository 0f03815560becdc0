/*
 * epoll_floor: the least kcmp work that proves where each registration of an epoll is.
 *
 * Usage: epoll_floor PID EPFD
 * Reads /proc/PID/fdinfo/EPFD and makes one KCMP_EPOLL_TFD call per registration,
 * against the fd its data word names (spawn_epoll.c leaves each file there), in PID
 * itself.  Knowing where to look is free here; kcmpctl has to find out.  Exits 1 if a
 * call does not answer "equal".  Prints the number of calls.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct slot {
    unsigned efd, tfd, toff;
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: epoll_floor PID EPFD\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    unsigned epfd = (unsigned)atoi(argv[2]);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%u", pid, epfd);
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return 2;
    }
    /* toff: how many earlier lines carry the same tfd. */
    unsigned *seen = calloc(1u << 20, sizeof *seen);
    long calls = 0, wrong = 0;
    while (fgets(line, sizeof line, in)) {
        unsigned tfd;
        unsigned long long data;
        if (sscanf(line, "tfd: %u events: %*x data: %llx", &tfd, &data) != 2) continue;
        struct slot s = {epfd, tfd, tfd < (1u << 20) ? seen[tfd]++ : 0};
        calls++;
        if (syscall(SYS_kcmp, pid, pid, 7, (unsigned long)data, (unsigned long)&s) != 0) wrong++;
    }
    fclose(in);
    printf("calls=%ld wrong=%ld\n", calls, wrong);
    return wrong ? 1 : 0;
}
