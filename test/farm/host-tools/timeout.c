/*
 * The simulated host's `timeout`, as the simulator observes it. Every command Lockstep's command
 * agent runs goes through `timeout`, so this is where the host records each of them in its audit
 * log (`command`, then `command-exit`, as session.py does for a command sent on its own SSH
 * channel) and applies the "SSH connection dropped" fault; coreutils' timeout does the rest.
 * Written in C so that observing a command costs the host well under a millisecond: a Python
 * wrapper's start would show up as time between commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONTROL_SOCKET "/run/lockstep-sim/ctl.sock"
#define REAL_TIMEOUT "/usr/bin/timeout"

struct buf {
    char *data;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) _exit(125);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* As the worker quotes a word for the shell, so the audit shows the command line it sent. */
static void shell_word(struct buf *b, const char *w) {
    int plain = *w != 0;
    for (const char *p = w; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-", *p)) plain = 0;
    if (plain) return puts_(b, w);
    puts_(b, "'");
    for (const char *p = w; *p; p++) {
        if (*p == '\'') puts_(b, "'\\''");
        else put(b, p, 1);
    }
    puts_(b, "'");
}

static void json_string(struct buf *b, const char *s) {
    char esc[8];
    puts_(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(b, esc);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    puts_(b, "\"");
}

/* One request line to hostd; its reply line in `reply` (empty when hostd is not there). */
static void request(const char *line, char *reply, size_t size) {
    reply[0] = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, CONTROL_SOCKET, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        size_t sent = 0, total = strlen(line);
        while (sent < total) {
            ssize_t n = write(fd, line + sent, total - sent);
            if (n <= 0) break;
            sent += (size_t)n;
        }
        size_t got = 0;
        while (got + 1 < size) {
            ssize_t n = read(fd, reply + got, size - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            if (memchr(reply, '\n', got)) break;
        }
        reply[got] = 0;
    }
    close(fd);
}

/* A number after `"key":` in a reply, or -1. */
static long number_after(const char *reply, const char *key) {
    const char *at = strstr(reply, key);
    if (!at) return -1;
    at += strlen(key);
    while (*at == ' ') at++;
    if (*at < '0' || *at > '9') return -1;
    return strtol(at, NULL, 10);
}

/* The nearest ancestor that is sshd: the user-side process of this SSH connection. */
static pid_t ssh_session_process(void) {
    pid_t pid = getppid();
    char path[64], stat[512];
    while (pid > 1) {
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) return 0;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        if (!open || !close) return 0;
        *close = 0;
        if (strcmp(open + 1, "sshd") == 0) return pid;
        int ppid;
        if (sscanf(close + 2, "%*c %d", &ppid) != 1) return 0;
        pid = ppid;
    }
    return 0;
}

static pid_t drop_target;

static void drop(int sig) {
    (void)sig;
    /* The connection goes; the command itself keeps running, as over a failed link. */
    if (drop_target > 0) kill(drop_target, SIGKILL);
}

int main(int argc, char **argv) {
    struct buf command = {0}, line = {0};
    puts_(&command, "timeout");
    for (int i = 1; i < argc; i++) {
        puts_(&command, " ");
        shell_word(&command, argv[i]);
    }
    char pid[32], reply[4096];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    puts_(&line, "{\"op\":\"session-start\",\"command\":");
    json_string(&line, command.data);
    puts_(&line, ",\"pid\":");
    puts_(&line, pid);
    puts_(&line, "}\n");
    request(line.data, reply, sizeof reply);
    long id = number_after(reply, "\"id\":");
    long drop_after = number_after(reply, "\"dropAfterMs\":");

    pid_t child = fork();
    if (child < 0) return 125;
    if (child == 0) {
        argv[0] = REAL_TIMEOUT;
        execv(REAL_TIMEOUT, argv);
        _exit(127);
    }
    if (drop_after >= 0) {
        drop_target = ssh_session_process();
        signal(SIGALRM, drop);
        struct itimerval when = {{0, 0}, {drop_after / 1000, (drop_after % 1000) * 1000}};
        if (drop_after == 0) when.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &when, NULL);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (id >= 0) {
        char end[128];
        snprintf(end, sizeof end, "{\"op\":\"session-end\",\"id\":%ld,\"exitCode\":%d}\n", id, code);
        request(end, reply, sizeof reply);
    }
    return code;
}
