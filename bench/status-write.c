/* Ways to replace a small file atomically, timed per change.
 *
 * usage: status-write DIR [ROUNDS] [DIRS]
 *   cc -O2 -o /tmp/status-write bench/status-write.c
 *
 * In each of DIRS (default 100) fresh subdirs of DIR per pattern, each pattern writes
 * ROUNDS (default 20) changes to `status` (20 bytes); dirs and patterns take turns, as
 * the supervisors of a scan dir do. Prints, per pattern, the median and the mean microseconds per change,
 * the first change (a fresh dir, as at bring-up) apart, and the entries left in a dir.
 * Patterns:
 *   rename      daemontools: open status.new O_TRUNC, write, close, rename over status
 *   spare       tend until 2026-12: write into a status.new created empty after the
 *               previous change, exchange, unlink the old, create the next status.new
 *   inplace     write into status.new in place (no O_TRUNC; ftruncate), exchange
 *               (tend's stat, pid and info until 2026-12; status.new stays)
 *   lazy        create status.new O_EXCL, write, close, exchange, unlink the old
 *   lazy-rename create status.new O_EXCL, write, close, rename over status
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

static char rec[20];

static double now_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) {
	perror(what);
	exit(111);
}

static void put(int fd, int trunc) {
	if (pwrite(fd, rec, sizeof rec, 0) != sizeof rec) die("pwrite");
	if (trunc && ftruncate(fd, sizeof rec)) die("ftruncate");
	if (close(fd)) die("close");
}

static void exchange(int d) {
	if (renameat2(d, "status.new", d, "status", RENAME_EXCHANGE)) {
		if (errno != ENOENT) die("renameat2");
		if (renameat(d, "status.new", d, "status")) die("rename");
	}
}

static void p_rename(int d, int first) {
	(void)first;
	put(openat(d, "status.new", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), 0);
	if (renameat(d, "status.new", d, "status")) die("rename");
}

static void fresh(int d) {
	if (unlinkat(d, "status.new", 0) && errno != ENOENT) die("unlink");
	int fd = openat(d, "status.new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || close(fd)) die("create");
}

static void p_spare(int d, int first) {
	if (first) fresh(d);
	put(openat(d, "status.new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644), 1);
	exchange(d);
	fresh(d);
}

static void p_inplace(int d, int first) {
	(void)first;
	put(openat(d, "status.new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644), 1);
	exchange(d);
}

static void p_lazy(int d, int first) {
	(void)first;
	int fd = openat(d, "status.new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) die("create");
	put(fd, 0);
	exchange(d);
	if (unlinkat(d, "status.new", 0) && errno != ENOENT) die("unlink");
}

static void p_lazy_rename(int d, int first) {
	(void)first;
	int fd = openat(d, "status.new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) die("create");
	put(fd, 0);
	if (renameat(d, "status.new", d, "status")) die("rename");
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int entries(int d) {
	int n = 0, fd = dup(d);
	DIR *dir = fdopendir(fd);
	if (!dir) die("fdopendir");
	rewinddir(dir);
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: status-write DIR [ROUNDS] [DIRS]\n");
		return 100;
	}
	int rounds = argc > 2 ? atoi(argv[2]) : 20, ndirs = argc > 3 ? atoi(argv[3]) : 100;
	struct { const char *name; void (*f)(int, int); } pat[] = {
		{"rename", p_rename}, {"spare", p_spare}, {"inplace", p_inplace},
		{"lazy", p_lazy}, {"lazy-rename", p_lazy_rename},
	};
	int npat = sizeof pat / sizeof pat[0], per = rounds * ndirs;
	double *t = malloc(sizeof(double) * per * npat), *first = malloc(sizeof(double) * ndirs * npat);
	int *dirs = malloc(sizeof(int) * ndirs * npat);
	for (int p = 0; p < npat; p++)
		for (int i = 0; i < ndirs; i++) {
			char name[4096];
			snprintf(name, sizeof name, "%s/%s.%d", argv[1], pat[p].name, i);
			if (mkdir(name, 0755)) die("mkdir");
			if ((dirs[p * ndirs + i] = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
				die("open dir");
		}
	sync();
	/* The patterns take turns, dir by dir, so that the file system's state (its cache,
	 * the inodes freed so far) weighs on all alike. */
	for (int r = 0; r <= rounds; r++)
		for (int i = 0; i < ndirs; i++)
			for (int p = 0; p < npat; p++) {
				rec[0] = r, rec[1] = i;
				double t0 = now_us();
				pat[p].f(dirs[p * ndirs + i], r == 0);
				double dt = now_us() - t0;
				if (r == 0) first[p * ndirs + i] = dt;
				else t[p * per + (r - 1) * ndirs + i] = dt;
			}
	printf("%-12s %10s %10s %12s %8s\n", "pattern", "median us", "mean us", "first (med)", "entries");
	for (int p = 0; p < npat; p++) {
		double sum = 0, *tp = t + p * per, *fp = first + p * ndirs;
		for (int i = 0; i < per; i++) sum += tp[i];
		qsort(tp, per, sizeof *tp, cmp);
		qsort(fp, ndirs, sizeof *fp, cmp);
		printf("%-12s %10.1f %10.1f %12.1f %8d\n", pat[p].name, tp[per / 2], sum / per,
		       fp[ndirs / 2], entries(dirs[p * ndirs]));
	}
	return 0;
}
