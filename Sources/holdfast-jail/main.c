// holdfast-jail: puts a program into a session's sandbox before it runs.
//
// The server runs as root, but nothing it starts may talk to a session's processes with more
// privilege than the session's own user (ARCHITECTURE §2a): a tmux client obeys its server, and a
// tmux server is the user's. So every tmux client (attach, new-session, kill-server) starts here:
// it joins the running sandbox's namespaces and cgroups, becomes the session's uid with no
// capabilities, no way to gain any and the sandbox's seccomp filter, and only then runs tmux.
// Whatever tmux makes its client do happens inside the sandbox, as the user.
//
// It is C, not Swift, because it sits on the resume path: it must start in a millisecond, and
// setns(2) into a mount namespace needs a single-threaded process.
//
//   holdfast-jail start [--cgroup PROCS]... -- PROGRAM [ARG]...
//       A new session (setsid), the cgroups joined, then PROGRAM (the sandbox's bwrap). The
//       cgroups are joined before the exec, so nothing the sandbox forks escapes them.
//
//   holdfast-jail enter --target PID --uid UID --gid GID [--cgroup PROCS]... [--seccomp FILE]
//                       [--chdir DIR] [--standby] -- PROGRAM [ARG]...
//       Joins the namespaces of PID (a process inside the sandbox: its pid 1), then runs PROGRAM
//       there as UID:GID. The helper stays behind, outside the sandbox's pid namespace and as
//       UID too, only to wait for PROGRAM and exit with its status, so the server's child ends
//       when PROGRAM does.
//
//       With --standby, descriptor 0 is a Unix socket: everything above is done ahead, and the
//       helper waits there for a terminal (one descriptor, SCM_RIGHTS), which becomes PROGRAM's
//       0, 1, 2 and controlling terminal in a session of its own. That is how an attach skips
//       the setup's cost, above all the cgroup migration (a v1 cgroup.procs write waits for an
//       RCU grace period: 10-16 ms measured). End of file on the socket: exit 0, nothing run.
//
// The environment is passed through unchanged: the server gives its children exactly what
// they need. Exit status: PROGRAM's, or 128 + its signal; 125 when the jail itself fails.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define JAIL_FAILED 125
#define MAX_CGROUPS 8

extern char **environ;

static void fail(const char *what) {
    fprintf(stderr, "holdfast-jail: %s: %s\n", what, strerror(errno));
    exit(JAIL_FAILED);
}

static void usage(const char *problem) {
    fprintf(stderr,
            "holdfast-jail: %s\n"
            "usage: holdfast-jail start [--cgroup PROCS]... -- PROGRAM [ARG]...\n"
            "       holdfast-jail enter --target PID --uid UID --gid GID [--cgroup PROCS]... [--seccomp FILE]\n"
            "                           [--chdir DIR] [--standby] -- PROGRAM [ARG]...\n",
            problem);
    exit(JAIL_FAILED);
}

static long number(const char *text, const char *name) {
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0) {
        fprintf(stderr, "holdfast-jail: %s must be a non-negative number, not '%s'\n", name, text);
        exit(JAIL_FAILED);
    }
    return value;
}

// Moves this process into a cgroup by writing its pid into the group's cgroup.procs.
static void join_cgroup(const char *procs) {
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(procs);
    char pid[32];
    int length = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (write(fd, pid, (size_t)length) != length) fail(procs);
    close(fd);
}

// Reads a classic-BPF program (an array of struct sock_filter), before the sandbox hides the file.
static struct sock_fprog read_seccomp(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path);
    struct stat info;
    if (fstat(fd, &info) != 0) fail(path);
    if (info.st_size <= 0 || info.st_size % sizeof(struct sock_filter) != 0 ||
        info.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        fprintf(stderr, "holdfast-jail: %s is not a seccomp program\n", path);
        exit(JAIL_FAILED);
    }
    struct sock_filter *filter = malloc((size_t)info.st_size);
    if (filter == NULL) fail("malloc");
    size_t done = 0;
    while (done < (size_t)info.st_size) {
        ssize_t count = read(fd, (char *)filter + done, (size_t)info.st_size - done);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) fail(path);
        done += (size_t)count;
    }
    close(fd);
    struct sock_fprog program = {
        .len = (unsigned short)(info.st_size / sizeof(struct sock_filter)),
        .filter = filter,
    };
    return program;
}

// Runs PROGRAM in a child and exits with its status; SIGHUP and SIGTERM reach the child too.
static pid_t child_pid = 0;

static void forward(int signal) {
    if (child_pid > 0) kill(child_pid, signal);
}

// Waits on the socket at descriptor 0 for a terminal; returns it, or exits on end of file.
static int receive_terminal(void) {
    char byte;
    struct iovec data = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr message = {
        .msg_iov = &data, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space};
    ssize_t count;
    do {
        count = recvmsg(0, &message, MSG_CMSG_CLOEXEC);
    } while (count < 0 && errno == EINTR);
    if (count == 0) exit(0);
    if (count < 0) fail("waiting for a terminal");
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header == NULL || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int))) {
        fprintf(stderr, "holdfast-jail: the standby got no terminal\n");
        exit(JAIL_FAILED);
    }
    int terminal;
    memcpy(&terminal, CMSG_DATA(header), sizeof terminal);
    return terminal;
}

static void run_and_wait(char **argv, const char *directory, int terminal) {
    child_pid = fork();
    if (child_pid < 0) fail("fork");
    if (child_pid == 0) {
        // Dies with the helper: the server ends a client by ending its child, the helper.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (terminal >= 0) {
            // What posix_spawn's POSIX_SPAWN_SETSID and open() do for a client started cold.
            if (setsid() < 0) fail("setsid");
            if (dup2(terminal, 0) < 0 || dup2(terminal, 1) < 0 || dup2(terminal, 2) < 0) fail("dup2");
            if (terminal > 2) close(terminal);
            if (ioctl(0, TIOCSCTTY, 0) != 0) fail("TIOCSCTTY");
        }
        if (directory != NULL && chdir(directory) != 0) fail(directory);
        execve(argv[0], argv, environ);
        fail(argv[0]);
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward;
    sigaction(SIGHUP, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    // The terminal is the child's now: holding it here would keep it open after the child ends.
    if (terminal > 2) close(terminal);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2) close(null);
    }
    int status = 0;
    while (waitpid(child_pid, &status, 0) < 0) {
        if (errno != EINTR) exit(JAIL_FAILED);
    }
    if (WIFEXITED(status)) exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) exit(128 + WTERMSIG(status));
    exit(JAIL_FAILED);
}

int main(int argc, char **argv) {
    if (argc < 2) usage("no mode given");
    const char *mode = argv[1];
    int entering = strcmp(mode, "enter") == 0;
    if (!entering && strcmp(mode, "start") != 0) usage("the mode is 'start' or 'enter'");

    const char *cgroups[MAX_CGROUPS];
    int cgroup_count = 0;
    long target = -1, uid = -1, gid = -1;
    const char *seccomp = NULL, *directory = NULL;
    int standby = 0;
    int index = 2;
    for (; index < argc; index++) {
        const char *option = argv[index];
        if (strcmp(option, "--") == 0) {
            index++;
            break;
        }
        if (entering && strcmp(option, "--standby") == 0) {
            standby = 1;
            continue;
        }
        if (index + 1 >= argc) usage("an option lacks its value");
        const char *value = argv[++index];
        if (strcmp(option, "--cgroup") == 0) {
            if (cgroup_count == MAX_CGROUPS) usage("too many --cgroup");
            cgroups[cgroup_count++] = value;
        } else if (entering && strcmp(option, "--target") == 0) {
            target = number(value, "--target");
        } else if (entering && strcmp(option, "--uid") == 0) {
            uid = number(value, "--uid");
        } else if (entering && strcmp(option, "--gid") == 0) {
            gid = number(value, "--gid");
        } else if (entering && strcmp(option, "--seccomp") == 0) {
            seccomp = value;
        } else if (entering && strcmp(option, "--chdir") == 0) {
            directory = value;
        } else {
            fprintf(stderr, "holdfast-jail: unknown option %s for %s\n", option, mode);
            exit(JAIL_FAILED);
        }
    }
    if (index >= argc) usage("no program given after --");
    char **program = &argv[index];
    if (program[0][0] != '/') usage("the program must be an absolute path");

    for (int i = 0; i < cgroup_count; i++) join_cgroup(cgroups[i]);

    if (!entering) {
        if (setsid() < 0) fail("setsid");
        execve(program[0], program, environ);
        fail(program[0]);
    }

    if (target <= 1 || uid <= 0 || gid <= 0) usage("enter needs --target, --uid and --gid (not root)");
    struct sock_fprog filter = {0, NULL};
    if (seccomp != NULL) filter = read_seccomp(seccomp);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/root", target);
    int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) fail(path);
    // A pidfd names the process itself, not a number that could be reused meanwhile, and enters
    // all of its namespaces in one step.
    int process = (int)syscall(SYS_pidfd_open, (pid_t)target, 0);
    if (process < 0) fail("pidfd_open");
    if (setns(process, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) != 0)
        fail("setns");
    close(process);
    if (fchdir(root) != 0 || chroot(".") != 0) fail("chroot into the sandbox");
    close(root);
    if (chdir("/") != 0) fail("chdir");

    // The user, and nothing more: no groups, no capabilities (setresuid from root to a non-zero
    // uid clears them all), no way to gain any through a setuid file, and the sandbox's filter.
    if (setgroups(0, NULL) != 0) fail("setgroups");
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) fail("setresgid");
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) fail("setresuid");
    if (setresuid(0, 0, 0) == 0) {
        fprintf(stderr, "holdfast-jail: could become root again after dropping to %ld; refusing to run\n", uid);
        exit(JAIL_FAILED);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("no_new_privs");
    if (filter.filter != NULL && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) fail("seccomp");

    // Entering a pid namespace takes effect for children only.
    run_and_wait(program, directory, standby ? receive_terminal() : -1);
    return JAIL_FAILED;
}
