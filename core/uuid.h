/*
 * UUIDs as 36-character lowercase strings. v4 for generated request ids;
 * v5 (SHA-1, RFC 4122) for deterministic notification ids: the same request
 * id and channel always give the same notification id, so a replay produces
 * the same ids.
 */
#ifndef HD_UUID_H
#define HD_UUID_H

#define HD_UUID_STRLEN 37 /* 36 chars + NUL */

void hd_uuid_v4(char out[HD_UUID_STRLEN]);
/* UUIDv5 of `name` in Herald's namespace. */
void hd_uuid_v5(const char *name, char out[HD_UUID_STRLEN]);
/* notification id = UUIDv5(request_id + "/" + channel name). */
void hd_notification_id(const char *request_id, const char *channel, char out[HD_UUID_STRLEN]);

#endif
