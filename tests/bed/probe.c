/* What a container may do to the machine: each probe prints NAME=ok or NAME=<errno name>,
   and a few facts from /proc/self/status. Built static so it runs in any image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/loop.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/timex.h>
#include <sys/uio.h>
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

/* `call(flags)` in a child, so what it changes (a namespace entered) does not touch the
   probes after it: its result as the child's exit status */
static long in_child(int (*call)(int), int flags) {
    pid_t pid = fork();
    if (pid == 0) _exit(call(flags) < 0 ? errno : 0);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WEXITSTATUS(status)) { errno = WEXITSTATUS(status); return -1; }
    return 0;
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

/* a loop device set up on a file and released again */
static long loop_setup(void) {
    int ctl = open("/dev/loop-control", O_RDWR);
    if (ctl < 0) return -1;
    long n = ioctl(ctl, LOOP_CTL_GET_FREE);
    close(ctl);
    if (n < 0) return -1;
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%ld", n);
    int file = open("/tmp/probe-loop", O_RDWR | O_CREAT, 0600);
    if (file < 0 || ftruncate(file, 1 << 20) < 0) return -1;
    int loop = open(dev, O_RDWR);
    if (loop < 0) { close(file); return -1; }
    long rc = ioctl(loop, LOOP_SET_FD, file);
    if (rc == 0) ioctl(loop, LOOP_CLR_FD, 0);
    close(loop);
    close(file);
    unlink("/tmp/probe-loop");
    return rc;
}

static long query_adjtimex(void) {
    struct timex t = {0};  /* modes 0: a read-only query */
    return adjtimex(&t);
}

static long madvise_process(void) {
    char byte;
    struct iovec v = {&byte, 1};
    /* a bad pidfd: EBADF where the call is allowed, EPERM where a filter refuses it */
    return syscall(SYS_process_madvise, -1, &v, 1, 0, 0);
}

static long load_bpf(void) {
    /* an empty attribute: EINVAL where the call is allowed, EPERM where refused */
    char attr[128] = {0};
    return syscall(SYS_bpf, 5 /* BPF_PROG_LOAD */, attr, sizeof attr);
}

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    mkdir("/mnt", 0755);
    say("mount", mount("none", "/mnt", "tmpfs", 0, ""));
    say("unshare_user", in_child(unshare, CLONE_NEWUSER));
    say("unshare_net", in_child(unshare, CLONE_NEWNET));
    say("clone_user", clone_user());
    say("keyctl", syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, 0));
    say("init_module", syscall(SYS_init_module, 0, 0, ""));
    say("settime", clock_settime(CLOCK_REALTIME, &now));
    say("io_uring", syscall(SYS_io_uring_setup, 1, 0));
    say("personality", syscall(SYS_personality, ADDR_NO_RANDOMIZE));  /* setarch -R */
    say("personality_query", syscall(SYS_personality, 0xffffffff));
    say("fanotify", fanotify_init(FAN_CLASS_NOTIF, 0));
    say("process_madvise", madvise_process());
    say("adjtimex", query_adjtimex());
    say("bpf", load_bpf());
    say("sys_write", access("/sys/kernel", W_OK));
    say("loop", loop_setup());
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
