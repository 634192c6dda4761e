/*
 * One line per event on stderr: text by default, JSON when
 * HERALD_LOG_FORMAT=json. Each line has level, time and component
 * ("processor:route", "api", "pg"), plus tenant and notification id when the
 * line is about a message. Never log a secret, a token or a message body
 * above debug. Debug lines are enabled per context (HERALD_DEBUG=kafka,pg,...).
 * Thread-safe.
 */
#ifndef HD_LOG_H
#define HD_LOG_H

#include "core/hd.h"

enum hd_log_level { HD_LOG_ERROR = 0, HD_LOG_WARN, HD_LOG_INFO, HD_LOG_DEBUG };

/* Reads HERALD_LOG_LEVEL (error|warn|info|debug), HERALD_LOG_FORMAT, HERALD_DEBUG. */
void hd_log_init_from_env(void);
void hd_log_set_level(enum hd_log_level level);
int hd_log_enabled(enum hd_log_level level);
/* Is debug on for this context name (e.g. "kafka")? */
int hd_log_debug_on(const char *context);

/* tenant and notification_id may be NULL. */
void hd_logm(enum hd_log_level level, const char *component, const char *tenant,
             const char *notification_id, const char *fmt, ...) HD_PRINTF(5, 6);

#define hd_log_error(comp, ...) hd_logm(HD_LOG_ERROR, comp, NULL, NULL, __VA_ARGS__)
#define hd_log_warn(comp, ...) hd_logm(HD_LOG_WARN, comp, NULL, NULL, __VA_ARGS__)
#define hd_log_info(comp, ...) hd_logm(HD_LOG_INFO, comp, NULL, NULL, __VA_ARGS__)
#define hd_log_debug(comp, ...) hd_logm(HD_LOG_DEBUG, comp, NULL, NULL, __VA_ARGS__)

#endif
