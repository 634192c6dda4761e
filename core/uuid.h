/*
 * UUIDs as 36-character lowercase strings. v4 for generated request ids;
 * v5 (SHA-1, RFC 4122) for deterministic notification ids: the same request
 * id and channel always give the same notification id, so a replay produces
 * the same ids.
 */
#ifndef HD_UUID_H
#define HD_UUID_H

#include <stddef.h>

#define HD_UUID_STRLEN 37 /* 36 chars + NUL */

void hd_uuid_v4(char out[HD_UUID_STRLEN]);
/* UUIDv5 of `name` in Herald's namespace. */
void hd_uuid_v5(const char *name, char out[HD_UUID_STRLEN]);
/* notification id = UUIDv5(request_id + "/" + channel name). */
void hd_notification_id(const char *request_id, const char *channel, char out[HD_UUID_STRLEN]);

/* W3C Trace Context (traceparent "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>").
 * hd_trace_parse: the trace id of a traceparent value of len bytes (not NUL-terminated),
 * 0, or -1 when it is not a valid version-00 traceparent (an all-zero trace id included).
 * hd_trace_new: a new random trace id. hd_traceparent: "00-<trace_id>-<new span>-01". */
#define HD_TRACE_ID_LEN 33      /* 32 hex + NUL */
#define HD_TRACEPARENT_LEN 56   /* 55 chars + NUL */
int hd_trace_parse(const char *value, size_t len, char out[HD_TRACE_ID_LEN]);
void hd_trace_new(char out[HD_TRACE_ID_LEN]);
void hd_traceparent(const char *trace_id, char out[HD_TRACEPARENT_LEN]);

#endif
