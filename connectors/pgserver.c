/*
 * Private PostgreSQL server for the demo (see pgserver.h).
 */
#include "connectors/pgserver.h"

#include <glob.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/hd.h"

struct hd_pgserver {
    char *dir;
    char *bindir;
    char *conninfo;
    int as_postgres;
};

/* The newest /usr/lib/postgresql/<v>/bin that has initdb. */
static char *find_bindir(void)
{
    glob_t g;
    char *best = NULL;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0) {
        best = hd_strdup(g.gl_pathv[g.gl_pathc - 1]);
        *strrchr(best, '/') = '\0';
    }
    globfree(&g);
    return best;
}

/* Runs argv (as postgres when as_postgres), output to logfile. Returns the exit status. */
static int run(struct hd_pgserver *s, char *const argv[], const char *logfile)
{
    /* the child's freopen would flush a copy of our unwritten stdio buffers */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *f = freopen(logfile, "a", stdout);
        if (f)
            dup2(fileno(stdout), 2);
        if (s->as_postgres) {
            struct passwd *pw = getpwnam("postgres");
            if (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid))
                _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct hd_pgserver *hd_pgserver_start(const char **conninfo, char *errstr, size_t errstr_size)
{
    struct hd_pgserver *s = hd_calloc(1, sizeof(*s));
    char tmpl[] = "/tmp/herald-pg-XXXXXX";
    if (!mkdtemp(tmpl)) {
        hd_seterr(-1, errstr, errstr_size, "mkdtemp: failed");
        hd_free(s);
        return NULL;
    }
    s->dir = hd_strdup(tmpl);
    s->bindir = find_bindir();
    if (!s->bindir) {
        hd_seterr(-1, errstr, errstr_size,
                  "PostgreSQL server binaries not found under /usr/lib/postgresql "
                  "(install the postgresql package: scripts/bootstrap does)");
        goto err;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            hd_seterr(-1, errstr, errstr_size, "running as root and there is no postgres user");
            goto err;
        }
        s->as_postgres = 1;
        if (chown(s->dir, pw->pw_uid, pw->pw_gid)) {
            hd_seterr(-1, errstr, errstr_size, "chown %s failed", s->dir);
            goto err;
        }
    }
    char *data = hd_asprintf("%s/data", s->dir);
    char *log = hd_asprintf("%s/server.log", s->dir);
    char *initdb = hd_asprintf("%s/initdb", s->bindir);
    char *pg_ctl = hd_asprintf("%s/pg_ctl", s->bindir);
    char *opts = hd_asprintf("-c listen_addresses='' -c unix_socket_directories='%s' -c fsync=off "
                             "-c synchronous_commit=off -c full_page_writes=off -p 5432",
                             s->dir);
    char *const init_argv[] = {initdb, "-D", data, "-U", "herald", "-A", "trust", "-E", "UTF8",
                               "--no-sync", NULL};
    char *const start_argv[] = {pg_ctl, "-D", data, "-l", log, "-o", opts, "-w", "start", NULL};
    int rc = run(s, init_argv, "/dev/null");
    if (rc == 0)
        rc = run(s, start_argv, "/dev/null") ? 2 : 0;
    hd_free(data);
    hd_free(initdb);
    hd_free(pg_ctl);
    hd_free(opts);
    if (rc) {
        hd_seterr(-1, errstr, errstr_size, "%s failed (see %s)", rc == 2 ? "pg_ctl start" : "initdb",
                  log);
        hd_free(log);
        goto err;
    }
    hd_free(log);
    s->conninfo = hd_asprintf("host=%s port=5432 dbname=postgres user=herald", s->dir);
    *conninfo = s->conninfo;
    return s;
err:
    hd_pgserver_stop(s);
    return NULL;
}

void hd_pgserver_stop(struct hd_pgserver *s)
{
    if (!s)
        return;
    if (s->bindir && s->conninfo) {
        char *pg_ctl = hd_asprintf("%s/pg_ctl", s->bindir);
        char *data = hd_asprintf("%s/data", s->dir);
        char *const argv[] = {pg_ctl, "-D", data, "-m", "fast", "-w", "stop", NULL};
        run(s, argv, "/dev/null");
        hd_free(pg_ctl);
        hd_free(data);
    }
    if (s->dir && !strncmp(s->dir, "/tmp/herald-pg-", 15)) {
        char *const argv[] = {"/bin/rm", "-rf", s->dir, NULL};
        int as = s->as_postgres;
        s->as_postgres = 0;
        run(s, argv, "/dev/null");
        s->as_postgres = as;
    }
    hd_free(s->dir);
    hd_free(s->bindir);
    hd_free(s->conninfo);
    hd_free(s);
}
