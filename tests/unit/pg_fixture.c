/* nftw() is an XSI extension. */
#define _XOPEN_SOURCE 700

#include "pg_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"

#define PG_OS_USER "postgres"

/* out = a/b; a path that does not fit is a broken test setup. */
static void join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "pg_fixture: path too long: %s/%s\n", a, b);
        abort();
    }
}

static bool is_exec(const char *dir, const char *name)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, name);
    return access(path, X_OK) == 0;
}

/* True for a directory name that is a PostgreSQL major version ("15"). */
static bool is_version(const char *name)
{
    if (!*name)
        return false;
    for (; *name; name++)
        if (*name < '0' || *name > '9')
            return false;
    return true;
}

/* $SLUICE_PG_BINDIR, else the highest /usr/lib/postgresql/N/bin holding
 * initdb, whatever N is installed (ops/lib/services.sh picks the same), else
 * "" (meaning: search $PATH). */
static void find_bindir(char *out, size_t size)
{
    const char *env = getenv("SLUICE_PG_BINDIR");
    out[0] = '\0';
    if (env && env[0]) {
        snprintf(out, size, "%s", env);
        return;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char ver[PATH_MAX], bin[PATH_MAX];
        if (!is_version(e->d_name))
            continue;
        long v = strtol(e->d_name, NULL, 10);
        join(ver, sizeof ver, "/usr/lib/postgresql", e->d_name);
        join(bin, sizeof bin, ver, "bin");
        if (v > best && is_exec(bin, "initdb")) {
            best = v;
            snprintf(out, size, "%s", bin);
        }
    }
    closedir(d);
}

/* The server refuses to run as root: drop to the postgres user. */
static int drop_root(void)
{
    if (getuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(PG_OS_USER);
    if (!pw)
        return -1;
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return -1;
    return 0;
}

#define RUN_MAX_ARGS 16

/* Runs bindir/argv[0] with output appended to dir/cmd.log; returns its exit
 * status (0 ok) or -1. The program gets that full path as its argv[0]:
 * initdb and pg_ctl look for postgres next to their argv[0], and search $PATH
 * for it when argv[0] has no slash, where Debian puts none of the three. */
static int run(const struct pg_fixture *pg, char *const argv[], bool as_server)
{
    char prog[PATH_MAX], logpath[PATH_MAX];
    char *args[RUN_MAX_ARGS];
    if (pg->bindir[0])
        join(prog, sizeof prog, pg->bindir, argv[0]);
    else
        snprintf(prog, sizeof prog, "%s", argv[0]);
    size_t n = 0;
    for (; argv[n]; n++) {
        if (n + 1 >= RUN_MAX_ARGS) {
            fprintf(stderr, "pg_fixture: too many arguments for %s\n", prog);
            abort();
        }
        args[n] = argv[n];
    }
    args[0] = prog;
    args[n] = NULL;
    join(logpath, sizeof logpath, pg->dir, "cmd.log");
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (as_server && drop_root() != 0)
            _exit(126);
        execvp(prog, args);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void dump_log(const struct pg_fixture *pg, const char *name)
{
    char path[PATH_MAX], line[512];
    join(path, sizeof path, pg->dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "pg_fixture: %s: %s", name, line);
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void server_stop(const struct pg_fixture *pg)
{
    char data[PATH_MAX];
    join(data, sizeof data, pg->dir, "data");
    char *argv[] = {"pg_ctl", "-D", data, "-m", "fast", "-w", "stop", NULL};
    char pidfile[PATH_MAX];
    join(pidfile, sizeof pidfile, data, "postmaster.pid");
    if (access(pidfile, F_OK) == 0)
        run(pg, argv, true);
    rm_rf(pg->dir);
}

/* Forks a process that waits for the owner to go away: a byte on the pipe
 * means "cleaned up already", EOF means the owner died without cleaning. */
static int start_watchdog(struct pg_fixture *pg)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    /* Close-on-exec, so that the server started later never holds the
     * write end and EOF really means the owner is gone. */
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        char byte;
        close(fds[1]);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        ssize_t n;
        while ((n = read(fds[0], &byte, 1)) < 0 && errno == EINTR)
            ;
        if (n <= 0)
            server_stop(pg);
        _exit(0);
    }
    close(fds[0]);
    pg->watchdog = pid;
    pg->watchdog_fd = fds[1];
    return 0;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Later lines win in postgresql.conf, so a retry just appends again. */
static int write_conf(const struct pg_fixture *pg)
{
    char path[PATH_MAX];
    join(path, sizeof path, pg->dir, "data/postgresql.conf");
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    fprintf(f,
            "\n# pg_fixture\nlisten_addresses = '127.0.0.1'\nport = %d\n"
            "unix_socket_directories = '%s'\nmax_connections = 50\n",
            pg->port, pg->dir);
    return fclose(f) == 0 ? 0 : -1;
}

static int make_dir(struct pg_fixture *pg)
{
    snprintf(pg->dir, sizeof pg->dir, "/tmp/sluice-pg.XXXXXX");
    if (!mkdtemp(pg->dir)) {
        pg->dir[0] = '\0';
        return -1;
    }
    if (getuid() == 0) {
        struct passwd *pw = getpwnam(PG_OS_USER);
        if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pg_fixture: running as root needs an OS user "
                            "'" PG_OS_USER "'\n");
            rmdir(pg->dir);
            pg->dir[0] = '\0';
            return -1;
        }
    }
    return 0;
}

static int init_and_start(struct pg_fixture *pg)
{
    char data[PATH_MAX], log[PATH_MAX];
    join(data, sizeof data, pg->dir, "data");
    join(log, sizeof log, pg->dir, "server.log");
    char *initdb[] = {"initdb", "--nosync", "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--locale=C", "-D", data, NULL};
    if (run(pg, initdb, true) != 0) {
        dump_log(pg, "cmd.log");
        return -1;
    }
    char *start[] = {"pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                     "start", NULL};
    for (int attempt = 0; attempt < 5; attempt++) {
        pg->port = free_port();
        if (pg->port > 0 && write_conf(pg) == 0 && run(pg, start, true) == 0)
            return 0;
    }
    dump_log(pg, "cmd.log");
    dump_log(pg, "server.log");
    return -1;
}

int pg_fixture_start(struct pg_fixture *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->watchdog_fd = -1;
    pg->owner = getpid();
    find_bindir(pg->bindir, sizeof pg->bindir);
    if (make_dir(pg) != 0) {
        fprintf(stderr, "pg_fixture: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    if (start_watchdog(pg) != 0 || init_and_start(pg) != 0) {
        fprintf(stderr, "pg_fixture: could not start PostgreSQL (bin '%s')\n",
                pg->bindir);
        pg_fixture_stop(pg);
        return -1;
    }
    return 0;
}

int pg_fixture_createdb(struct pg_fixture *pg, const char *name)
{
    char port[16];
    snprintf(port, sizeof port, "%d", pg->port);
    char *argv[] = {"createdb", "-h", pg->dir, "-p", port, "-U", "postgres",
                    (char *)name, NULL};
    if (run(pg, argv, false) != 0) {
        dump_log(pg, "cmd.log");
        return -1;
    }
    return 0;
}

void pg_fixture_conninfo(const struct pg_fixture *pg, const char *name,
                         char *buf, size_t size)
{
    snprintf(buf, size, "host=%s port=%d user=postgres dbname=%s", pg->dir,
             pg->port, name);
}

void pg_fixture_stop(struct pg_fixture *pg)
{
    if (getpid() != pg->owner || !pg->dir[0])
        return;
    server_stop(pg);
    pg->dir[0] = '\0';
    if (pg->watchdog_fd >= 0) {
        ssize_t n = write(pg->watchdog_fd, "x", 1);
        (void)n;
        close(pg->watchdog_fd);
        pg->watchdog_fd = -1;
    }
    if (pg->watchdog > 0) {
        waitpid(pg->watchdog, NULL, 0);
        pg->watchdog = 0;
    }
}

struct db *pg_fixture_open_db(const struct pg_fixture *pg, const char *dbname,
                              const char *app_name, bool migrate)
{
    char conninfo[PATH_MAX + 128], err[512];
    pg_fixture_conninfo(pg, dbname, conninfo, sizeof conninfo);
    struct db *db = db_open(conninfo, app_name, err, sizeof err);
    if (!db) {
        fprintf(stderr, "pg_fixture: db_open %s: %s\n", dbname, err);
        return NULL;
    }
    if (migrate && db_migrate(db, SLUICE_SOURCE_DIR "/schema", NULL, err,
                              sizeof err) != 0) {
        fprintf(stderr, "pg_fixture: db_migrate %s: %s\n", dbname, err);
        db_close(db);
        return NULL;
    }
    return db;
}

struct db *pg_fixture_start_db(struct pg_fixture *pg, const char *app_name,
                               bool migrate)
{
    if (pg_fixture_start(pg) != 0)
        return NULL;
    struct db *db = NULL;
    if (pg_fixture_createdb(pg, "sluice") == 0)
        db = pg_fixture_open_db(pg, "sluice", app_name, migrate);
    if (!db)
        pg_fixture_stop(pg);
    return db;
}

void pg_fixture_stop_db(struct pg_fixture *pg, struct db *db)
{
    db_close(db);
    pg_fixture_stop(pg);
}

/* Runs q and fails the test unless its status is ok or, when rows_only,
 * PGRES_TUPLES_OK; the result is freed first, as fail_msg does not return. */
static PGresult *exec_or_fail(struct db *db, const char *q, bool rows_only)
{
    PGresult *res = PQexec(db_conn(db), q);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || (!rows_only && st == PGRES_COMMAND_OK))
        return res;
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", PQresStatus(st),
             PQresultErrorMessage(res));
    PQclear(res);
    fail_msg("%s: %s", q, msg);
    return NULL;
}

void pg_fixture_exec(struct db *db, const char *q)
{
    PQclear(exec_or_fail(db, q, false));
}

void pg_fixture_query_text(struct db *db, const char *q, char *out,
                           size_t size)
{
    PGresult *res = exec_or_fail(db, q, true);
    snprintf(out, size, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

long long pg_fixture_query_int(struct db *db, const char *q)
{
    char buf[64];
    pg_fixture_query_text(db, q, buf, sizeof buf);
    return strtoll(buf, NULL, 10);
}
