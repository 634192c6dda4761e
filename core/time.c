/*
 * Clocks and ISO-8601 timestamps (see time.h).
 */
#include "core/time.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t hd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hd_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void hd_time_iso8601(int64_t ms, char *out, unsigned long out_size)
{
    time_t sec = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        sec -= 1;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, out_size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, out_size - n, ".%03dZ", frac);
}

int hd_time_parse_iso8601(const char *s, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* exactly [+-]HH:MM, hours 00-23, minutes 00-59 */
        int sign = *p == '-' ? -1 : 1;
        const char *o = p + 1;
        for (int i = 0; i < 5; i++)
            if (i == 2 ? o[i] != ':' : (o[i] < '0' || o[i] > '9'))
                return -1;
        int hh = (o[0] - '0') * 10 + (o[1] - '0'), mm = (o[3] - '0') * 10 + (o[4] - '0');
        if (hh > 23 || mm > 59)
            return -1;
        offset_s = sign * (hh * 3600 + mm * 60);
        p = o + 5;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t sec = (int64_t)timegm(&tm) - offset_s;
    *ms = sec * 1000 + frac_ms;
    return 0;
}
