/*
 * hd_store_poke PATH KEY VALUE: puts KEY = VALUE (no expiry) into the state store at
 * PATH and commits it with the store's applied offset unchanged, bypassing the
 * changelog. Only for tests that must see the state check fail on a store that no
 * longer equals its changelog.
 */
#include <stdio.h>
#include <string.h>

#include "state/store.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: hd_store_poke PATH KEY VALUE\n");
        return 2;
    }
    char err[512];
    struct hd_store *st = hd_store_open(argv[1], err, sizeof(err));
    if (!st || hd_store_put(st, argv[2], strlen(argv[2]), argv[3], strlen(argv[3]), 0, err,
                            sizeof(err)) ||
        hd_store_commit(st, hd_store_applied_offset(st), err, sizeof(err))) {
        fprintf(stderr, "hd_store_poke: %s\n", err);
        hd_store_close(st);
        return 1;
    }
    hd_store_close(st);
    return 0;
}
