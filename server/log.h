/*
 * log.h - the server's one logging module: levels, one line per event, to stderr or to a
 * log file that SIGHUP reopens. Only server/ logs; the engine reports through a callback
 * that the server forwards here.
 *
 * The logger is process-wide state (one log file per process, as in Redis); every function
 * must be called from the event-loop thread.
 */
#ifndef LS_SERVER_LOG_H
#define LS_SERVER_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3 };

/* Opens path for appending ("" or NULL means stderr) and sets the level. Returns 0 or
 * -errno (the previous destination stays in use). */
int log_open(const char *path, int level);
/* Reopens the current log file (after rotation); a no-op for stderr. */
void log_reopen(void);
void log_set_level(int level);
int log_get_level(void);
void log_close(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_verbose(...) log_msg(LOG_VERBOSE, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)

#endif
