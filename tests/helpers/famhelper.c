/*
 * famhelper: builds a process family with known kernel sharing for kcmpctl's tests.
 *
 * Usage: famhelper OP...
 * Runs each OP in order in the main process, printing "NAME VALUE" lines, then
 * "ready", then waits for EOF on stdin.  On EOF it kills every child it made,
 * reaps them (zombies included), removes its semaphores and exits 0.  Children
 * also die with it (PR_SET_PDEATHSIG), so a killed helper leaves nothing behind.
 *
 * OPs:
 *   clone:NAME:FLAGS   child made by clone(2); FLAGS is 0 or VM|FILES|FS|SIGHAND|IO|SYSVSEM,
 *                      and NEWNS|NEWNET|NEWPID|NEWUTS|NEWIPC|NEWUSER|NEWCGROUP: a child in
 *                      namespaces of its own (NEWTIME only with unshare: it applies to
 *                      children made after)
 *   cthread:NAME       clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|
 *                      CLONE_SYSVSEM): a thread made by hand
 *   thread:NAME        a pthread; prints its TID
 *   fork:NAME          fork(2) child that waits
 *   zombie:NAME        fork(2) child that exits at once and is left unreaped
 *   exec:NAME:PATH     fork(2) child that execs PATH (no arguments)
 *   ioprio             ioprio_set(IOPRIO_WHO_PROCESS, self, best-effort 4)
 *   semundo            semop(SEM_UNDO) on a new private semaphore: an undo list
 *   unshare:FLAGS      unshare(2) in the main process (NEWPID and NEWTIME: for children
 *                      made after)
 *   open:NAME:PATH     open(PATH, O_RDONLY|O_CLOEXEC=0), prints the fd
 *   dup:NAME:FD        dup(FD), prints the new fd
 *   dup2:FD:NEWFD      dup2(FD, NEWFD)
 *   close:FD           close(FD)
 *   pipe:NAME          pipe(2), prints NAME_r and NAME_w
 *   epoll:NAME         epoll_create1(0), prints the fd
 *   eadd:EPFD:FD       epoll_ctl(EPFD, EPOLL_CTL_ADD, FD, EPOLLIN, data=FD)
 *   name:TEXT          prctl(PR_SET_NAME, TEXT)
 *   undump             prctl(PR_SET_DUMPABLE, 0)
 *   leaderexit         the main thread exits (pthread_exit); a thread waits for EOF
 *   emany:EPFD:N       N registrations in EPFD, in turn a pipe's read end, an eventfd, a
 *                      pipe's read end moved (dup, then close) and an eventfd moved;
 *                      data is the fd the file is left at.  Closed numbers are reused,
 *                      so tfds repeat (toff > 0).  Raises RLIMIT_NOFILE to its hard limit.
 *   setuid:UID         drop to UID (and gid UID, no groups), staying dumpable
 *   sigclose:FD        on SIGUSR1, close(FD): in this process and in children made after
 *                      (a test closes an fd in one process at the moment it chooses)
 *   sub:NAME:FLAGS:OPS a child made by clone(2) with FLAGS (not VM) that runs OPS itself,
 *                      separated by ',' (sub:mid:FILES:clone:gc:FILES,unshare:FILES makes
 *                      a grandchild that shares its grandparent's fd table, not its
 *                      parent's); their output lines come first, then NAME's PID
 *   tunshare:NAME:FLAGS a pthread that calls unshare(FLAGS); prints its TID
 *   openfd:FD:PATH     open(PATH, O_RDWR) placed at fd FD (a FIFO opens without blocking)
 *   eventfd:FD         eventfd(2) placed at fd FD
 *   eventfds:N         N new eventfds at the lowest free fds
 *   nest:NAME:N        fork(2) child that runs the next N OPs itself (they may nest), then
 *                      waits; the parent prints NAME PID once they are done and goes on
 *                      after them
 *   flip:FD1:FD2:FD    a thread that loops dup2(FD1, FD); dup2(FD2, FD) until the end:
 *                      fd FD changes between two open file descriptions all the time
 *   clones:NAME:N:FLAGS N children made by clone(2) with FLAGS; prints NAME_0 .. NAME_N-1
 *   threads:N          N pthreads that wait
 *   fdflip:NAME:PATH   two opens of PATH, D1 and D2.  This process holds D1 at fd 5; a child
 *                      (NAME_c) holds D1 at 20 and D2 at 21 and loops dup2(20,5); dup2(21,5);
 *                      its child (NAME_x) holds D2 alone, at 7
 *   semflip:NAME       child that loops: semop(SEM_UNDO|IPC_NOWAIT) up and down on a new
 *                      semaphore, then unshare(CLONE_SYSVSEM): an undo list comes and goes
 *   spawner            a thread that creates short-lived threads (1 ms each) without end:
 *                      the thread list changes all the time
 *   vfork:NAME         fork(2) child that vfork()s a child that never execs: NAME is stuck in
 *                      vfork (its killable wait does not stop for PTRACE_INTERRUPT)
 *   iowait:NAME        fork(2) child that calls ioprio_set once, 0.5 to 2 ms after
 *                      SIGUSR1 (while a test compares it), and then waits
 *
 * The helper is a child subreaper: descendants orphaned when a sub child dies are
 * reaped by it too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 4096
#define STACK_SIZE (256 * 1024)

static pid_t children[MAX_CHILDREN];
static int nchildren;
static int semids[64];
static int nsems;

static void die(const char *what) {
    fprintf(stderr, "famhelper: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void add_child(pid_t pid) {
    if (nchildren < MAX_CHILDREN) children[nchildren++] = pid;
}

static int wait_forever(void *arg) {
    (void)arg;
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    for (;;) pause();
    return 0;
}

static int parse_flags(const char *s) {
    int flags = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|")) {
        if (!strcmp(tok, "0")) continue;
        else if (!strcmp(tok, "VM")) flags |= CLONE_VM;
        else if (!strcmp(tok, "FILES")) flags |= CLONE_FILES;
        else if (!strcmp(tok, "FS")) flags |= CLONE_FS;
        else if (!strcmp(tok, "SIGHAND")) flags |= CLONE_SIGHAND;
        else if (!strcmp(tok, "IO")) flags |= CLONE_IO;
        else if (!strcmp(tok, "SYSVSEM")) flags |= CLONE_SYSVSEM;
        else if (!strcmp(tok, "THREAD")) flags |= CLONE_THREAD;
        else if (!strcmp(tok, "NEWNS")) flags |= CLONE_NEWNS;
        else if (!strcmp(tok, "NEWNET")) flags |= CLONE_NEWNET;
        else if (!strcmp(tok, "NEWPID")) flags |= CLONE_NEWPID;
        else if (!strcmp(tok, "NEWUTS")) flags |= CLONE_NEWUTS;
        else if (!strcmp(tok, "NEWIPC")) flags |= CLONE_NEWIPC;
        else if (!strcmp(tok, "NEWUSER")) flags |= CLONE_NEWUSER;
        else if (!strcmp(tok, "NEWCGROUP")) flags |= CLONE_NEWCGROUP;
#ifdef CLONE_NEWTIME
        else if (!strcmp(tok, "NEWTIME")) flags |= CLONE_NEWTIME;
#endif
        else { fprintf(stderr, "famhelper: unknown flag %s\n", tok); exit(3); }
    }
    return flags;
}

static pid_t clone_child(int flags) {
    char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) die("mmap");
    int sig = (flags & CLONE_THREAD) ? 0 : SIGCHLD;
    pid_t pid = clone(wait_forever, stack + STACK_SIZE, flags | sig, NULL);
    if (pid < 0) die("clone");
    return pid;
}

static int tid_pipe[2];

static void *thread_main(void *arg) {
    int flags = (int)(long)arg;
    if (flags && unshare(flags)) die("unshare");
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (write(tid_pipe[1], &tid, sizeof tid) != sizeof tid) die("write");
    for (;;) pause();
    return NULL;
}

static void *thread_main_quiet(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static void cleanup_and_exit(void) {
    for (int i = 0; i < nchildren; i++) kill(children[i], SIGKILL);
    for (int i = 0; i < nchildren; i++) waitpid(children[i], NULL, __WALL);
    /* Orphans of sub children, reparented to this subreaper, die with their parents. */
    while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {}
    for (int i = 0; i < nsems; i++) semctl(semids[i], 0, IPC_RMID);
    _exit(0);
}

static void *waiter(void *arg) {
    (void)arg;
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {}
    cleanup_and_exit();
    return NULL;
}

static void read_pid(int fd, pid_t *pid) {
    if (read(fd, pid, sizeof *pid) != sizeof *pid) die("read");
}

static void fdflip(const char *name, const char *path) {
    int d1 = open(path, O_RDONLY), p[2];
    if (d1 < 0) die("open");
    if (dup2(d1, 5) < 0) die("dup2");
    close(d1);
    if (pipe(p)) die("pipe");
    fflush(stdout);
    pid_t parent = getpid(), c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        int d2 = open(path, O_RDONLY);
        if (d2 < 0 || dup2(5, 20) < 0 || dup2(d2, 21) < 0) die("fdflip child");
        close(d2);
        pid_t me = getpid(), x = fork();
        if (x < 0) die("fork");
        if (x == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != me) _exit(0);
            if (dup2(21, 7) < 0) die("dup2");
            close(5);
            close(20);
            close(21);
            /* X says its PID itself, once its fds are as described: a report from C
             * right after fork() could reach the test before X dropped C's fds. */
            x = getpid();
            if (write(p[1], &x, sizeof x) != sizeof x) die("write");
            close(p[1]);
            for (;;) pause();
        }
        close(p[1]);
        for (;;) {
            dup2(20, 5);
            dup2(21, 5);
        }
    }
    add_child(c);
    close(p[1]);
    pid_t x;
    read_pid(p[0], &x);
    close(p[0]);
    printf("%s_c %d\n%s_x %d\n", name, c, name, x);
}

static void semflip(const char *name) {
    int id = semget(IPC_PRIVATE, 1, 0600);
    if (id < 0) die("semget");
    semids[nsems++] = id;
    fflush(stdout);
    pid_t parent = getpid(), c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        struct sembuf up = {0, 1, SEM_UNDO | IPC_NOWAIT}, down = {0, -1, SEM_UNDO | IPC_NOWAIT};
        struct sembuf bare_up = {0, 1, IPC_NOWAIT}, bare_down = {0, -1, IPC_NOWAIT};
        for (;;) {
            semop(id, &up, 1);
            semop(id, &down, 1);
            unshare(CLONE_SYSVSEM);
            /* As long without an undo list as with one: the race is on both edges. */
            semop(id, &bare_up, 1);
            semop(id, &bare_down, 1);
        }
    }
    add_child(c);
    printf("%s %d\n", name, c);
}

static void vforker(const char *name) {
    int p[2];
    if (pipe(p)) die("pipe");
    fflush(stdout);
    pid_t parent = getpid(), c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);
        close(p[0]);
        if (vfork() == 0) {
            /* Shares this child's memory until it execs or exits, which it never does. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (write(p[1], "v", 1) != 1) _exit(1);
            for (;;) pause();
        }
        _exit(0);
    }
    add_child(c);
    close(p[1]);
    char byte;
    if (read(p[0], &byte, 1) != 1) die("read");
    close(p[0]);
    printf("%s %d\n", name, c);
}

static volatile int sigclose_fd = -1;

static void close_on_signal(int sig) {
    (void)sig;
    close(sigclose_fd);
}

static int op(char *spec, char **rest, int nrest);
static void run_ops(int argc, char **argv, int from, int to);

static void *brief(void *arg) {
    (void)arg;
    usleep(1000);
    return NULL;
}

static void *spawn_forever(void *arg) {
    (void)arg;
    for (;;) {
        pthread_t t;
        if (pthread_create(&t, NULL, brief, NULL) == 0) pthread_detach(t);
        usleep(100);
    }
    return NULL;
}

static void *flipper(void *arg) {
    int *fds = arg;
    for (;;) {
        dup2(fds[0], fds[2]);
        dup2(fds[1], fds[2]);
    }
    return NULL;
}

struct sub_args {
    char *ops;
    int done;  /* write end of a pipe: one byte once every op ran */
};

static int sub_main(void *arg) {
    struct sub_args *args = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    nchildren = 0;
    for (char *next, *one = args->ops; one; one = next) {
        next = strchr(one, ',');
        if (next) *next++ = '\0';
        op(one, NULL, 0);
    }
    fflush(stdout);
    if (write(args->done, "", 1) != 1) die("write");
    for (;;) pause();
    return 0;
}

static int op(char *spec, char **rest, int nrest) {
    char *name = strchr(spec, ':');
    char *arg = NULL;
    if (name) {
        *name++ = '\0';
        arg = strchr(name, ':');
        if (arg) *arg++ = '\0';
    }
    if (!strcmp(spec, "clone")) {
        pid_t pid = clone_child(parse_flags(arg));
        add_child(pid);
        printf("%s %d\n", name, pid);
    } else if (!strcmp(spec, "clones")) {
        char *flags = strchr(arg, ':');
        if (!flags) die("clones:NAME:N:FLAGS");
        *flags++ = '\0';
        int n = atoi(arg), f = parse_flags(flags);
        for (int i = 0; i < n; i++) {
            pid_t pid = clone_child(f);
            add_child(pid);
            printf("%s_%d %d\n", name, i, pid);
        }
    } else if (!strcmp(spec, "threads")) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, STACK_SIZE);
        for (int i = 0, n = atoi(name); i < n; i++) {
            pthread_t t;
            if (pthread_create(&t, &attr, thread_main_quiet, NULL)) die("pthread_create");
        }
        pthread_attr_destroy(&attr);
    } else if (!strcmp(spec, "cthread")) {
        pid_t tid = clone_child(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                CLONE_THREAD | CLONE_SYSVSEM);
        printf("%s %d\n", name, tid);
    } else if (!strcmp(spec, "sub")) {
        char *ops = strchr(arg, ':');
        if (!ops) { fprintf(stderr, "famhelper: sub needs FLAGS:OPS\n"); exit(3); }
        *ops++ = '\0';
        int flags = parse_flags(arg), done[2];
        if (flags & CLONE_VM) { fprintf(stderr, "famhelper: sub cannot share VM\n"); exit(3); }
        if (pipe(done)) die("pipe");
        struct sub_args args = {ops, done[1]};
        fflush(stdout);
        char *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) die("mmap");
        pid_t pid = clone(sub_main, stack + STACK_SIZE, flags | SIGCHLD, &args);
        if (pid < 0) die("clone");
        add_child(pid);
        char byte;
        if (read(done[0], &byte, 1) != 1) die("sub child");
        close(done[0]);
        close(done[1]);
        printf("%s %d\n", name, pid);
    } else if (!strcmp(spec, "thread") || !strcmp(spec, "tunshare")) {
        pthread_t t;
        pid_t tid;
        long flags = !strcmp(spec, "tunshare") ? parse_flags(arg) : 0;
        if (pipe(tid_pipe)) die("pipe");
        if (pthread_create(&t, NULL, thread_main, (void *)flags)) die("pthread_create");
        if (read(tid_pipe[0], &tid, sizeof tid) != sizeof tid) die("read");
        close(tid_pipe[0]);
        close(tid_pipe[1]);
        printf("%s %d\n", name, tid);
    } else if (!strcmp(spec, "fork") || !strcmp(spec, "zombie") || !strcmp(spec, "exec")) {
        fflush(stdout);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            if (!strcmp(spec, "zombie")) _exit(0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            /* A parent that died before prctl() sends no signal: leave now. */
            if (getppid() != parent) _exit(0);
            if (!strcmp(spec, "exec")) {
                execl(arg, arg, (char *)NULL);
                _exit(127);
            }
            for (;;) pause();
        }
        add_child(pid);
        if (!strcmp(spec, "zombie")) {
            siginfo_t info;
            if (waitid(P_PID, pid, &info, WEXITED | WNOWAIT)) die("waitid");
        }
        printf("%s %d\n", name, pid);
    } else if (!strcmp(spec, "iowait")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        /* Blocked before fork, so a signal sent at once is not lost. */
        sigprocmask(SIG_BLOCK, &set, NULL);
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            int sig;
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            sigwait(&set, &sig);
            srand((unsigned)getpid());
            usleep(500 + rand() % 1500);
            syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4);
            for (;;) pause();
        }
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        add_child(pid);
        printf("%s %d\n", name, pid);
    } else if (!strcmp(spec, "ioprio")) {
        if (syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4)) die("ioprio_set");
    } else if (!strcmp(spec, "semundo")) {
        int id = semget(IPC_PRIVATE, 1, 0600);
        if (id < 0) die("semget");
        semids[nsems++] = id;
        struct sembuf sb = {0, 1, SEM_UNDO};
        if (semop(id, &sb, 1)) die("semop");
        printf("semid %d\n", id);
    } else if (!strcmp(spec, "unshare")) {
        if (unshare(parse_flags(name))) die("unshare");
    } else if (!strcmp(spec, "open")) {
        int fd = open(arg, O_RDONLY);
        if (fd < 0) die("open");
        printf("%s %d\n", name, fd);
    } else if (!strcmp(spec, "dup")) {
        int fd = dup(atoi(arg));
        if (fd < 0) die("dup");
        printf("%s %d\n", name, fd);
    } else if (!strcmp(spec, "dup2")) {
        if (dup2(atoi(name), atoi(arg)) < 0) die("dup2");
    } else if (!strcmp(spec, "close")) {
        close(atoi(name));
    } else if (!strcmp(spec, "pipe")) {
        int p[2];
        if (pipe(p)) die("pipe");
        printf("%s_r %d\n%s_w %d\n", name, p[0], name, p[1]);
    } else if (!strcmp(spec, "epoll")) {
        int fd = epoll_create1(0);
        if (fd < 0) die("epoll_create1");
        printf("%s %d\n", name, fd);
    } else if (!strcmp(spec, "eadd")) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)atoi(arg)};
        if (epoll_ctl(atoi(name), EPOLL_CTL_ADD, atoi(arg), &ev)) die("epoll_ctl");
    } else if (!strcmp(spec, "name")) {
        if (prctl(PR_SET_NAME, name)) die("prctl");
    } else if (!strcmp(spec, "undump")) {
        if (prctl(PR_SET_DUMPABLE, 0)) die("prctl");
    } else if (!strcmp(spec, "leaderexit")) {
        pthread_t t;
        printf("ready\n");
        fflush(stdout);
        if (pthread_create(&t, NULL, waiter, NULL)) die("pthread_create");
        pthread_exit(NULL);
    } else if (!strcmp(spec, "emany")) {
        int epfd = atoi(name), n = atoi(arg);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl)) die("getrlimit");
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) die("setrlimit");
        for (int i = 0; i < n; i++) {
            int fd, p[2];
            if (i % 2 == 0) {
                if (pipe(p)) die("pipe");
                fd = p[0];
            } else if ((fd = eventfd(0, 0)) < 0) {
                die("eventfd");
            }
            int at = fd;
            if (i % 4 >= 2 && (at = dup(fd)) < 0) die("dup");
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)at};
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
            if (at != fd) close(fd);
        }
        printf("%s %d\n", spec, n);
    } else if (!strcmp(spec, "setuid")) {
        uid_t uid = (uid_t)atoi(name);
        if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
            die("setuid");
        /* Changing credentials clears dumpable (which would deny everyone but
         * CAP_SYS_PTRACE: the tests want a plain process of another user) and the
         * parent-death signal. */
        if (prctl(PR_SET_DUMPABLE, 1) || prctl(PR_SET_PDEATHSIG, SIGKILL)) die("prctl");
    } else if (!strcmp(spec, "sigclose")) {
        /* SA_RESTART: the helper's read() of stdin must go on after the handler. */
        struct sigaction sa = {.sa_handler = close_on_signal, .sa_flags = SA_RESTART};
        sigclose_fd = atoi(name);
        if (sigaction(SIGUSR1, &sa, NULL)) die("sigaction");
    } else if (!strcmp(spec, "openfd")) {
        int fd = open(arg, O_RDWR), at = atoi(name);
        if (fd < 0) die("open");
        if (fd != at) {
            if (dup2(fd, at) < 0) die("dup2");
            close(fd);
        }
    } else if (!strcmp(spec, "eventfd")) {
        int fd = eventfd(0, 0), at = atoi(name);
        if (fd < 0) die("eventfd");
        if (fd != at) {
            if (dup2(fd, at) < 0) die("dup2");
            close(fd);
        }
    } else if (!strcmp(spec, "eventfds")) {
        for (int i = atoi(name); i > 0; i--)
            if (eventfd(0, 0) < 0) die("eventfd");
    } else if (!strcmp(spec, "nest")) {
        int n = atoi(arg), done[2];
        char c = 0;
        if (n < 0 || n > nrest) {
            fprintf(stderr, "famhelper: nest:%s needs %d more OPs\n", name, n);
            exit(3);
        }
        if (pipe(done)) die("pipe");
        /* Out of the way of the fd numbers the OPs choose. */
        for (int i = 0; i < 2; i++) {
            int high = fcntl(done[i], F_DUPFD_CLOEXEC, 900);
            if (high < 0) die("fcntl");
            close(done[i]);
            done[i] = high;
        }
        fflush(stdout);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0);
            close(done[0]);
                        nchildren = 0;
            nsems = 0;
            run_ops(nrest, rest, 0, n);
            fflush(stdout);
            if (write(done[1], &c, 1) != 1) die("write");
            close(done[1]);
            for (;;) pause();
        }
        close(done[1]);
        add_child(pid);
        if (read(done[0], &c, 1) != 1) die("nest: the child died");
        close(done[0]);
        printf("%s %d\n", name, pid);
        return n;
    } else if (!strcmp(spec, "flip")) {
        static int flips[64][3];
        static int nflips;
        char *third = arg ? strchr(arg, ':') : NULL;
        if (!third || nflips == 64) {
            fprintf(stderr, "famhelper: flip needs FD1:FD2:FD\n");
            exit(3);
        }
        *third++ = '\0';
        int *f = flips[nflips++];
        f[0] = atoi(name);
        f[1] = atoi(arg);
        f[2] = atoi(third);
        /* FD is open before the OPs after this one run (and before "ready"). */
        if (dup2(f[0], f[2]) < 0) die("dup2");
        pthread_t t;
        if (pthread_create(&t, NULL, flipper, f)) die("pthread_create");
    } else if (!strcmp(spec, "fdflip")) {
        fdflip(name, arg);
    } else if (!strcmp(spec, "semflip")) {
        semflip(name);
    } else if (!strcmp(spec, "spawner")) {
        pthread_t t;
        if (pthread_create(&t, NULL, spawn_forever, NULL)) die("pthread_create");
    } else if (!strcmp(spec, "vfork")) {
        vforker(name);
    } else {
        fprintf(stderr, "famhelper: unknown op %s\n", spec);
        exit(3);
    }
    return 0;
}

static void run_ops(int argc, char **argv, int from, int to) {
    for (int i = from; i < to && i < argc; i++) i += op(argv[i], argv + i + 1, to - i - 1);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    printf("pid %d\n", getpid());
    run_ops(argc, argv, 1, argc);
    printf("ready\n");
    waiter(NULL);
    return 0;
}
