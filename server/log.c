/*
 * log.c - leveled logging to stderr or a file, in Redis's line format:
 *
 *     <pid>:M 22 Nov 2024 02:45:00.123 * message
 *
 * where the mark is '.' debug, '-' verbose, '*' notice, '#' warning. Each event is one
 * line written with one write(2) so lines from a crash are not interleaved. The file is
 * opened with O_APPEND; SIGHUP (through log_reopen) reopens it after logrotate moved it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static int log_level = LOG_NOTICE;
static char *log_path;

int log_open(const char *path, int level)
{
    log_level = level;
    if (path == NULL || path[0] == '\0') {
        if (log_fd > 2)
            close(log_fd);
        log_fd = 2;
        free(log_path);
        log_path = NULL;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    char *p = strdup(path);
    if (p == NULL) {
        close(fd);
        return -ENOMEM;
    }
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = p;
    return 0;
}

void log_reopen(void)
{
    if (log_path == NULL)
        return;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_warning("cannot reopen log file %s: %s", log_path, strerror(errno));
        return;
    }
    close(log_fd);
    log_fd = fd;
    log_notice("log file reopened");
}

void log_set_level(int level)
{
    log_level = level;
}

int log_get_level(void)
{
    return log_level;
}

void log_close(void)
{
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
    free(log_path);
    log_path = NULL;
}

void log_msg(int level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    if (level < log_level)
        return;
    if (level < LOG_DEBUG || level > LOG_WARNING)
        level = LOG_WARNING;
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%d:M ", (int)getpid());
    n += (int)strftime(line + n, sizeof(line) - (size_t)n, "%d %b %Y %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d %c ", (int)(tv.tv_usec / 1000),
                  marks[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
}
