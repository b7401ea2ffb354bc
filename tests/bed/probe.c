/* What a container may do to the machine: each probe prints NAME=ok or NAME=<errno name>,
   and a few facts from /proc/self/status. Built static so it runs in any image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *name, long rc) {
    if (rc < 0) printf("%s=%s\n", name, strerrorname_np(errno));
    else printf("%s=ok\n", name);
}

static long clone_user(void) {
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, 0, 0);
    return pid;
}

static long read_kcore(void) {
    char buf[16];
    int fd = open("/proc/kcore", O_RDONLY);
    if (fd < 0) return -1;
    long n = read(fd, buf, sizeof buf);
    close(fd);
    if (n == 0) { errno = ENODATA; return -1; }  /* masked: an empty file */
    return n;
}

static long open_disk(void) {
    unlink("/tmp/probe-disk");
    if (mknod("/tmp/probe-disk", S_IFBLK | 0600, makedev(8, 0)) < 0) return -1;
    int fd = open("/tmp/probe-disk", O_RDONLY);
    unlink("/tmp/probe-disk");
    if (fd >= 0) close(fd);
    return fd;
}

static long write_proc_sys(void) {
    int fd = open("/proc/sys/kernel/domainname", O_WRONLY);
    if (fd >= 0) close(fd);
    return fd;
}

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    mkdir("/mnt", 0755);
    say("mount", mount("none", "/mnt", "tmpfs", 0, ""));
    say("unshare_user", unshare(CLONE_NEWUSER));
    say("unshare_net", unshare(CLONE_NEWNET));
    say("clone_user", clone_user());
    say("keyctl", syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0));
    say("init_module", syscall(SYS_init_module, 0, 0, ""));
    say("settime", clock_settime(CLOCK_REALTIME, &now));
    say("io_uring", syscall(SYS_io_uring_setup, 1, 0));
    say("kcore", read_kcore());
    say("proc_sys", write_proc_sys());
    say("disk", open_disk());
    say("fork", fork() == 0 ? (_exit(0), 0) : (wait(0), 0));
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8)) {
            char *colon = strchr(line, ':');
            *colon = '=';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') memmove(v, v + 1, strlen(v));
            fputs(line, stdout);
        }
    }
    return 0;
}
