/*
 * A plugin's configuration map (core/confmap.c): where each value comes from (set by the
 * program, then the environment, then the default), type and bound checks, required
 * keys, and errors that name plugin.key and the variable.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/confmap.h"
#include "core/config.h"
#include "core/hd.h"

static const struct hd_conf_entry map[] = {
    {"dir", HD_CONF_STRING, "./out", "HD_TEST_DIR", 0, 0, 0, "where files go"},
    {"retries", HD_CONF_INT, "3", "HD_TEST_RETRIES", 0, 0, 10, "attempts"},
    {"verbose", HD_CONF_BOOL, "false", "HD_TEST_VERBOSE", 0, 0, 0, "more log"},
    {"url", HD_CONF_URL, NULL, "HD_TEST_URL", 0, 0, 0, "the endpoint"},
    {"token", HD_CONF_STRING, NULL, NULL, 0, 0, 0, "no variable: only the program sets it"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};

static struct hd_config cfg;

static void setup(void)
{
    memset(&cfg, 0, sizeof(cfg));
    unsetenv("HD_TEST_DIR");
    unsetenv("HD_TEST_RETRIES");
    unsetenv("HD_TEST_VERBOSE");
    unsetenv("HD_TEST_URL");
    unsetenv("HD_TEST_KEY");
}

static void teardown(void)
{
    hd_config_clear(&cfg);
}

TestSuite(confmap, .init = setup, .fini = teardown);

Test(confmap, defaults_apply_and_unset_keys_read_as_null)
{
    char err[256];
    struct hd_conf *c = hd_conf_load("test", map, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_expect_str_eq(hd_conf_str(c, "dir"), "./out");
    cr_expect_eq(hd_conf_int(c, "retries"), 3);
    cr_expect_eq(hd_conf_bool(c, "verbose"), 0);
    cr_expect_null(hd_conf_str(c, "url"));
    cr_expect_null(hd_conf_str(c, "token"));
    hd_conf_destroy(c);
}

Test(confmap, the_program_wins_over_the_environment_which_wins_over_the_default)
{
    char err[256];
    setenv("HD_TEST_DIR", "/env/dir", 1);
    setenv("HD_TEST_RETRIES", "7", 1);
    setenv("HD_TEST_VERBOSE", "YES", 1);
    setenv("HD_TEST_URL", "https://example.com/x", 1);
    hd_config_plugin_set(&cfg, "test.dir", "/first");
    hd_config_plugin_set(&cfg, "test.dir", "/program/dir"); /* replaces */
    hd_config_plugin_set(&cfg, "test.token", "s3cret");
    hd_config_plugin_set(&cfg, "other.dir", "/not/mine");
    struct hd_conf *c = hd_conf_load("test", map, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_expect_str_eq(hd_conf_str(c, "dir"), "/program/dir");
    cr_expect_eq(hd_conf_int(c, "retries"), 7);
    cr_expect_eq(hd_conf_bool(c, "verbose"), 1);
    cr_expect_str_eq(hd_conf_str(c, "url"), "https://example.com/x");
    cr_expect_str_eq(hd_conf_str(c, "token"), "s3cret");
    hd_conf_destroy(c);
    /* an empty variable counts as unset */
    setenv("HD_TEST_RETRIES", "", 1);
    c = hd_conf_load("test", map, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_expect_eq(hd_conf_int(c, "retries"), 3);
    hd_conf_destroy(c);
}

Test(confmap, bad_values_are_refused_naming_the_key_the_variable_and_why)
{
    static const struct {
        const char *var, *value, *want[3];
    } cases[] = {
        {"HD_TEST_RETRIES", "three", {"test.retries", "HD_TEST_RETRIES", "expected an integer"}},
        {"HD_TEST_RETRIES", "11", {"test.retries", "\"11\"", "[0, 10]"}},
        {"HD_TEST_RETRIES", "-1", {"test.retries", "[0, 10]", NULL}},
        {"HD_TEST_RETRIES", "4x", {"test.retries", "expected an integer", NULL}},
        {"HD_TEST_VERBOSE", "maybe", {"test.verbose", "HD_TEST_VERBOSE", "true or false"}},
        {"HD_TEST_URL", "ftp://x", {"test.url", "HD_TEST_URL", "http:// or https://"}},
        {"HD_TEST_URL", "https://", {"test.url", "URL", NULL}},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        setup();
        setenv(cases[i].var, cases[i].value, 1);
        char err[256] = "";
        struct hd_conf *c = hd_conf_load("test", map, &cfg, err, sizeof(err));
        cr_expect_null(c, "%s=%s was accepted", cases[i].var, cases[i].value);
        hd_conf_destroy(c);
        for (size_t k = 0; k < 3 && cases[i].want[k]; k++)
            cr_expect(strstr(err, cases[i].want[k]), "case %zu: \"%s\" lacks \"%s\"", i, err,
                      cases[i].want[k]);
    }
    /* a value set by the program is checked the same way, and says where it came from */
    setup();
    hd_config_plugin_set(&cfg, "test.retries", "many");
    char err[256] = "";
    cr_expect_null(hd_conf_load("test", map, &cfg, err, sizeof(err)));
    cr_expect(strstr(err, "test.retries (set by the program)"), "%s", err);
}

Test(confmap, a_required_key_without_a_value_stops_the_load)
{
    static const struct hd_conf_entry req[] = {
        {"key", HD_CONF_STRING, NULL, "HD_TEST_KEY", 1, 0, 0, "the API key"},
        {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
    };
    char err[256] = "";
    cr_expect_null(hd_conf_load("acmemail", req, &cfg, err, sizeof(err)));
    cr_expect(strstr(err, "acmemail.key: required, set HD_TEST_KEY"), "%s", err);
    setenv("HD_TEST_KEY", "k", 1);
    struct hd_conf *c = hd_conf_load("acmemail", req, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_expect_str_eq(hd_conf_str(c, "key"), "k");
    hd_conf_destroy(c);
}

Test(confmap, an_empty_map_loads_and_a_key_outside_the_map_is_a_plugin_bug,
     .signal = SIGABRT)
{
    char err[256];
    struct hd_conf *c = hd_conf_load("none", NULL, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    hd_conf_str(c, "undeclared"); /* aborts */
}

Test(confmap, describe_lists_every_key_with_its_variable_and_default)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_conf_describe("test", map, f);
    fclose(f);
    cr_expect(strstr(text, "test.dir  string  HD_TEST_DIR  default ./out"), "%s", text);
    cr_expect(strstr(text, "test.retries  integer [0, 10]  HD_TEST_RETRIES  default 3"), "%s",
              text);
    cr_expect(strstr(text, "where files go"), "%s", text);
    free(text);
}
