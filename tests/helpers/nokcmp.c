/*
 * nokcmp: run a command under a seccomp filter that answers kcmp(2) itself, as a
 * container runtime's profile does.
 *
 * Usage: nokcmp zero|eperm|enosys COMMAND [ARG...]
 *   zero    kcmp returns 0 without running (SECCOMP_RET_ERRNO with data 0: the
 *           kernel sets the return value to -0), an answer no real kernel gives
 *           to kcmp(self, -1, ...)
 *   eperm   kcmp fails with EPERM (Docker's default profile)
 *   enosys  kcmp fails with ENOSYS
 * Every other system call runs.  Needs no privilege (PR_SET_NO_NEW_PRIVS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define ARCH AUDIT_ARCH_S390X
#else
#error "nokcmp: add this architecture's AUDIT_ARCH"
#endif

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: nokcmp zero|eperm|enosys COMMAND [ARG...]\n");
        return 3;
    }
    unsigned data;
    if (!strcmp(argv[1], "zero")) data = 0;
    else if (!strcmp(argv[1], "eperm")) data = EPERM;
    else if (!strcmp(argv[1], "enosys")) data = ENOSYS;
    else {
        fprintf(stderr, "nokcmp: unknown mode %s\n", argv[1]);
        return 3;
    }
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kcmp, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (data & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        perror("nokcmp: prctl(PR_SET_NO_NEW_PRIVS)");
        return 3;
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
        perror("nokcmp: seccomp");
        return 3;
    }
    execvp(argv[2], argv + 2);
    perror("nokcmp: exec");
    return 127;
}
