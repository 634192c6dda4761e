/* herald bench state: being written (placeholder while a helper builds it). */
#include <stdio.h>

#include "cmd/cmd.h"

int hd_cmd_bench_state(int argc, char **argv, struct hd_config *cfg)
{
    (void)argc;
    (void)argv;
    (void)cfg;
    fprintf(stderr, "herald bench state: not built yet\n");
    return 2;
}
