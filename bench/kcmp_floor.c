/*
 * kcmp_floor: the same grouping as `kcmpctl matrix`, in C, as a yardstick.
 *
 * Usage: kcmp_floor sort|pairs [PID...]     (no PID: every process in /proc)
 * For each of the six task types it groups the processes that share one object:
 *   sort   sorts with kcmp as the comparator (qsort), then compares neighbours once
 *          more, as kcmpctl does: ~n log2 n calls a type;
 *   pairs  compares every pair (union-find): n(n-1)/2 calls a type.
 * A reference zombie (an unreaped child: NULL mm, files, fs, io, undo list) tells the
 * processes without an object apart.  Processes kcmp refuses (EPERM, ESRCH) are left
 * out first, one call each.  Prints one line per type: groups, absent, calls.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *names[] = {"", "vm", "files", "fs", "sighand", "io", "sysvsem"};
static int type;
static long calls;

static long kcmp(pid_t a, pid_t b, int t) {
    calls++;
    return syscall(SYS_kcmp, a, b, t, 0, 0);
}

static int cmp(const void *x, const void *y) {
    long r = kcmp(*(const pid_t *)x, *(const pid_t *)y, type);
    return r == 1 ? -1 : r == 2 ? 1 : 0;
}

static int *parent;
static int find(int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "sort") && strcmp(argv[1], "pairs"))) {
        fprintf(stderr, "usage: kcmp_floor sort|pairs [PID...]\n");
        return 2;
    }
    int sorting = !strcmp(argv[1], "sort");
    pid_t zombie = fork();
    if (zombie == 0) _exit(0);
    siginfo_t info;
    waitid(P_PID, zombie, &info, WEXITED | WNOWAIT);

    size_t cap = 1024, n = 0;
    pid_t *all = malloc(cap * sizeof *all);
    if (argc > 2) {
        for (int i = 2; i < argc; i++) {
            if (n == cap) all = realloc(all, (cap *= 2) * sizeof *all);
            all[n++] = atoi(argv[i]);
        }
    } else {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            if (n == cap) all = realloc(all, (cap *= 2) * sizeof *all);
            all[n++] = atoi(e->d_name);
        }
        closedir(d);
    }
    pid_t *items = malloc((n + 1) * sizeof *items);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i] != zombie && kcmp(all[i], all[i], 4) == 0) items[m++] = all[i];
    items[m++] = zombie;
    parent = malloc(m * sizeof *parent);

    for (type = 1; type <= 6; type++) {
        long before = calls, groups = 0, absent = 0;
        if (sorting) {
            qsort(items, m, sizeof *items, cmp);
            size_t start = 0;
            for (size_t i = 1; i <= m; i++) {
                if (i < m && kcmp(items[i - 1], items[i], type) == 0) continue;
                int has_zombie = 0;
                for (size_t j = start; j < i; j++) has_zombie |= items[j] == zombie;
                if (has_zombie) absent += (long)(i - start) - 1;
                else if (i - start > 1) groups++;
                start = i;
            }
        } else {
            for (size_t i = 0; i < m; i++) parent[i] = (int)i;
            for (size_t i = 0; i < m; i++)
                for (size_t j = i + 1; j < m; j++)
                    if (kcmp(items[i], items[j], type) == 0) parent[find((int)j)] = find((int)i);
            long *size = calloc(m, sizeof *size);
            for (size_t i = 0; i < m; i++) size[find((int)i)]++;
            size_t zroot = 0;
            for (size_t i = 0; i < m; i++)
                if (items[i] == zombie) zroot = (size_t)find((int)i);
            for (size_t i = 0; i < m; i++) {
                if (i == zroot) absent = size[i] - 1;
                else if (size[i] > 1) groups++;
            }
            free(size);
        }
        printf("%s groups=%ld absent=%ld calls=%ld\n", names[type], groups, absent,
               calls - before);
    }
    waitpid(zombie, NULL, 0);
    return 0;
}
