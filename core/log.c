/*
 * Logging (see log.h). Lines are built in one buffer and written with one
 * fwrite so concurrent threads do not interleave within a line.
 */
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"

static enum hd_log_level hd_log_level = HD_LOG_INFO;
static int hd_log_json;
static char hd_log_debug_ctx[256];
static pthread_mutex_t hd_log_lock = PTHREAD_MUTEX_INITIALIZER;

void hd_log_init_from_env(void)
{
    const char *lvl = getenv("HERALD_LOG_LEVEL");
    if (lvl) {
        if (!strcasecmp(lvl, "error"))
            hd_log_level = HD_LOG_ERROR;
        else if (!strcasecmp(lvl, "warn") || !strcasecmp(lvl, "warning"))
            hd_log_level = HD_LOG_WARN;
        else if (!strcasecmp(lvl, "debug"))
            hd_log_level = HD_LOG_DEBUG;
        else
            hd_log_level = HD_LOG_INFO;
    }
    const char *fmt = getenv("HERALD_LOG_FORMAT");
    hd_log_json = fmt && !strcasecmp(fmt, "json");
    const char *dbg = getenv("HERALD_DEBUG");
    if (dbg) {
        snprintf(hd_log_debug_ctx, sizeof(hd_log_debug_ctx), ",%s,", dbg);
        hd_log_level = HD_LOG_DEBUG;
    }
}

void hd_log_set_level(enum hd_log_level level)
{
    hd_log_level = level;
}

int hd_log_enabled(enum hd_log_level level)
{
    return level <= hd_log_level;
}

int hd_log_debug_on(const char *context)
{
    if (hd_log_level < HD_LOG_DEBUG || !hd_log_debug_ctx[0])
        return 0;
    char needle[64];
    snprintf(needle, sizeof(needle), ",%s,", context);
    return strstr(hd_log_debug_ctx, needle) || strstr(hd_log_debug_ctx, ",all,");
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void hd_logm(enum hd_log_level level, const char *component, const char *tenant,
             const char *notification_id, const char *fmt, ...)
{
    if (!hd_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);

    struct hd_buf b = HD_BUF_INIT;
    if (hd_log_json) {
        hd_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":", when,
                      level_names[level]);
        hd_buf_put_json_string(&b, component, strlen(component));
        if (tenant) {
            hd_buf_puts(&b, ",\"tenant\":");
            hd_buf_put_json_string(&b, tenant, strlen(tenant));
        }
        if (notification_id) {
            hd_buf_puts(&b, ",\"notification_id\":");
            hd_buf_put_json_string(&b, notification_id, strlen(notification_id));
        }
        hd_buf_puts(&b, ",\"msg\":");
        hd_buf_put_json_string(&b, msg, strlen(msg));
        hd_buf_puts(&b, "}\n");
    } else {
        hd_buf_printf(&b, "%s %-5s [%s]", when, level_names[level], component);
        if (tenant)
            hd_buf_printf(&b, " tenant=%s", tenant);
        if (notification_id)
            hd_buf_printf(&b, " notification_id=%s", notification_id);
        hd_buf_printf(&b, " %s\n", msg);
    }
    pthread_mutex_lock(&hd_log_lock);
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&hd_log_lock);
    hd_buf_free(&b);
}
